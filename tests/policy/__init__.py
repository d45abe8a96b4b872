"""Tests of the policy pack (policy/): every rule passing and failing, the pack itself, the offline evaluator."""
