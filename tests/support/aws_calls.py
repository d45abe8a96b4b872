"""The AWS calls a Lambda handler's code can make, found by reading the code (``ast``), not by running it.

From the handler's entry function the call graph over ``functions/`` is followed (over-approximating a method call
to every method of that name); a boto3 call is ``anything.<operation>`` of a service the code builds clients for.
How names are resolved and narrowed: docs/design/testing.md.

Example:
    >>> sorted(handler_calls("functions.api.handler.handle"))[:1]
    [AwsCall(service='dynamodb', operation='GetItem')]
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "functions"
CLIENT_FACTORIES = ("aws_client", "_client")
CONSTRUCTOR_METHODS = ("__init__", "__post_init__")
# botocore's service name -> the service prefix IAM uses for its actions, where they differ.
IAM_PREFIXES = {"cloudwatch": "cloudwatch"}
# IAM authorises a transaction by the actions it carries (DynamoDB developer guide, "Using IAM with DynamoDB
# transactions": Put, Update, Delete by PutItem, UpdateItem, DeleteItem; ConditionCheck by ConditionCheckItem). The
# functions' one transaction, the write path's (functions/shared/write_path.py), carries a Put and an Update.
TRANSACTION_OPERATIONS = {("dynamodb", "TransactWriteItems"): ("PutItem", "UpdateItem")}


@dataclass(frozen=True, order=True)
class AwsCall:
    """One operation of one service, as botocore names them (``dynamodb``, ``GetItem``)."""

    service: str
    operation: str

    @property
    def action(self) -> str:
        """The IAM action authorising the call (``dynamodb:GetItem``)."""
        return f"{IAM_PREFIXES.get(self.service, self.service)}:{self.operation}"


class AmbiguousOperationError(ValueError):
    """A method name is an operation of more than one service the code uses: the service cannot be told."""


@dataclass
class _Function:
    """A function, a method, or a module-level assignment (a table of functions, such as the runbook's steps)."""

    qualname: str
    module: str
    cls: str | None
    node: ast.AST


@dataclass
class _Module:
    name: str
    tree: ast.Module
    imports: dict[str, str]  # local name -> qualified name (a module or a module's member)


@functools.cache
def _modules() -> dict[str, _Module]:
    modules: dict[str, _Module] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text(), filename=str(path))
        imports: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    imports[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        modules[name] = _Module(name, tree, imports)
    return modules


@functools.cache
def _index() -> tuple[dict[str, _Function], dict[str, list[str]], dict[str, str]]:
    """Every function and method of ``functions/`` by qualified name; methods by bare name; classes to modules."""
    functions: dict[str, _Function] = {}
    methods: dict[str, list[str]] = {}
    classes: dict[str, str] = {}
    for module in _modules().values():
        for node in module.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[f"{module.name}.{node.name}"] = _Function(f"{module.name}.{node.name}", module.name, None, node)
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name):
                        qualname = f"{module.name}.{target.id}"
                        functions[qualname] = _Function(qualname, module.name, None, node.value)
            elif isinstance(node, ast.ClassDef):
                classes[f"{module.name}.{node.name}"] = module.name
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        qualname = f"{module.name}.{node.name}.{item.name}"
                        functions[qualname] = _Function(qualname, module.name, node.name, item)
                        methods.setdefault(item.name, []).append(qualname)
    return functions, methods, classes


@functools.cache
def client_services() -> frozenset[str]:
    """The services the code builds boto3 clients for: the literal first argument of a client factory call."""
    services = set()
    for module in _modules().values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                callee = node.func
                name = callee.id if isinstance(callee, ast.Name) else callee.attr if isinstance(callee, ast.Attribute) else ""
                if name in CLIENT_FACTORIES and isinstance(node.args[0].value, str):
                    services.add(node.args[0].value)
    return frozenset(services)


@functools.cache
def operations() -> dict[str, AwsCall]:
    """botocore's snake_case operation names of the client services -> the call (ambiguous names raise on use)."""
    session = botocore.session.get_session()
    found: dict[str, set[AwsCall]] = {}
    for service in sorted(client_services()):
        for operation in session.get_service_model(service).operation_names:
            found.setdefault(xform_name(operation), set()).add(AwsCall(service, operation))
    return {name: next(iter(calls)) if len(calls) == 1 else _ambiguous(name, calls) for name, calls in found.items()}


class _Ambiguous(AwsCall):
    pass


def _ambiguous(name: str, calls: set[AwsCall]) -> AwsCall:
    return _Ambiguous("|".join(sorted(c.service for c in calls)), name)


def _resolve(module: _Module, dotted: list[str]) -> list[str]:
    """Qualified names a name or dotted name in ``module`` may stand for: a function, a module-level table, or a class
    (its qualified name; the caller reaches its constructor)."""
    functions, _, classes = _index()
    head, rest = dotted[0], dotted[1:]
    base = module.imports.get(head, f"{module.name}.{head}")
    candidate = ".".join([base, *rest])
    return [candidate] if candidate in functions or candidate in classes else []


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


# ``x.get(...)`` is far more often a dict's than one of our classes': a method name that a builtin container or string
# also has reaches only the methods of the classes the code has reached (constructed or named) so far.
BUILTIN_METHOD_NAMES = frozenset(
    name for kind in (dict, list, str, set, bytes, tuple) for name in dir(kind) if not name.startswith("__")
)


@dataclass(frozen=True)
class _Method:
    """A reference to a method by name whose class is not known (``anything.name``)."""

    name: str


def _edges(function: _Function) -> Iterator[str | AwsCall | _Method]:
    """What one function's body reaches: functions, module tables and classes (by qualified name), methods by name,
    and boto3 calls."""
    functions, _, _ = _index()
    module = _modules()[function.module]
    ops = operations()
    for node in ast.walk(function.node):
        # A method named or called (``client.put_item(...)``, or ``client.put_item`` handed to a retry helper).
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            name = node.attr
            if name in ops:
                call = ops[name]
                if isinstance(call, _Ambiguous):
                    raise AmbiguousOperationError(
                        f"{function.qualname} uses .{name}, an operation of {call.service.replace('|', ' and ')}"
                    )
                yield call
            yield _Method(name)
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls") and function.cls:
                own = f"{function.module}.{function.cls}.{name}"
                if own in functions:
                    yield own
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node)
            if dotted:
                yield from _resolve(module, dotted)


@functools.cache
def handler_calls(entry: str) -> frozenset[AwsCall]:
    """Every boto3 call reachable from ``entry`` (``functions.api.handler.handle``).

    Raises
    ------
    ValueError
        ``entry`` is not a function of ``functions/``.
    AmbiguousOperationError
        A reachable call's operation name belongs to two services the code uses.
    """
    functions = _index()[0]
    if entry not in functions:
        raise ValueError(f"{entry} is not a function of {PACKAGE}/; e.g. {next(iter(sorted(functions)))}")
    walk = _Walk()
    walk.reach(entry)
    while walk.todo:
        walk.visit(walk.todo.pop())
    return frozenset(
        AwsCall(call.service, operation)
        for call in walk.calls
        for operation in TRANSACTION_OPERATIONS.get((call.service, call.operation), (call.operation,))
    )


class _Walk:
    """The call graph's walk from one entry: what is reached, the boto3 calls found, the classes reached and the
    builtin-like method names referenced so far."""

    def __init__(self) -> None:
        self.functions, self.methods, self.classes = _index()
        self.seen: set[str] = set()
        self.calls: set[AwsCall] = set()
        self.live: set[str] = set()  # classes reached
        self.named: set[str] = set()  # builtin-like method names referenced
        self.todo: list[str] = []

    def reach(self, qualname: str) -> None:
        if qualname not in self.seen:
            self.seen.add(qualname)
            self.todo.append(qualname)

    def reach_method_of(self, cls: str, name: str) -> None:
        if f"{cls}.{name}" in self.functions:
            self.reach(f"{cls}.{name}")

    def visit(self, qualname: str) -> None:
        if qualname in self.classes:
            self._visit_class(qualname)
            return
        for edge in _edges(self.functions[qualname]):
            if isinstance(edge, AwsCall):
                self.calls.add(edge)
            elif isinstance(edge, _Method):
                self._visit_method(edge.name)
            else:
                self.reach(edge)

    def _visit_class(self, cls: str) -> None:
        """A class reached: its constructors run, and the builtin-like names referenced so far may be its methods."""
        self.live.add(cls)
        for method in (*CONSTRUCTOR_METHODS, *self.named):
            self.reach_method_of(cls, method)

    def _visit_method(self, name: str) -> None:
        """``anything.name``: every method of that name, or (a name builtins also have) those of the classes reached."""
        if name not in BUILTIN_METHOD_NAMES:
            for method in self.methods.get(name, []):
                self.reach(method)
        elif name not in self.named:
            self.named.add(name)
            for cls in self.live:
                self.reach_method_of(cls, name)
