"""Write miwa MI command modules in Python, built with componentize-py.

A module declares itself with a :class:`Module`, registers its commands with the
``command`` decorator (and its background work with ``tick``), and hands the class
componentize-py instantiates to the name ``ModuleApi`` of its app module::

    from miwa_module import Module, MiError, log

    module = Module("hello", "1.0")

    @module.command("py_hello", "greets someone", recipes=[["name"]], types={"name": "string"})
    def hello(params):
        return "hello, " + params["name"]

    ModuleApi = module.api()

Build it for ``miwa:module@0.3.0``::

    componentize-py -d mi-core/wit/module/v0.3.0 -w module componentize \\
        -p mi-core/modules/python -p . app -o hello.wasm

Parameters arrive after the daemon matched a recipe: ``params`` is a dict of the matched
recipe's parameters by name (positional calls are mapped to names). A command returns any
JSON-serialisable value. Raising :class:`MiError` answers with that MI error; any other
exception answers ``500 <command> raised <Type>: <message>`` and its traceback goes to
stderr, which the daemon keeps for the reply of a call that traps.

The capability wrappers (:data:`log`, :data:`stats`, :data:`cache`, :data:`events`,
:data:`mi`) work when the operator granted the capability; calling one that was not
granted fails the call with a message naming the grant. Files are Python's own ``open``
and ``os`` within the ``read_only_dirs`` of the ``files`` grant.
"""

import json
import sys
import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import module_api as _api

# The type names ``Module.command`` takes, and their WIT values.
_PARAM_TYPES = {
    "integer": _api.ParamType.INTEGER,
    "string": _api.ParamType.STRING,
    "string-array": _api.ParamType.STRING_ARRAY,
}
from wit_world.imports import cache as _cache
from wit_world.imports import events as _events
from wit_world.imports import log as _log
from wit_world.imports import mi as _mi
from wit_world.imports import stats as _stats
from wit_world.imports import types as _types

__all__ = ["Module", "MiError", "log", "stats", "cache", "events", "mi"]


class MiError(Exception):
    """An MI error: the reply's ``error`` member (``code``, ``message``, ``data``)."""

    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code = int(code)
        self.message = str(message)
        self.data = None if data is None else str(data)

    @classmethod
    def invalid_params(cls):
        """``-32602 Invalid params``, as the core answers a parameter of the wrong type."""
        return cls(-32602, "Invalid params")

    @classmethod
    def not_found(cls, message):
        """``404`` with ``message``."""
        return cls(404, message)


def _mi_error(error):
    return _types.MiError(code=error.code, message=error.message, data=error.data)


class _Log:
    """Capability ``log``: lines in the daemon's log, tagged with the module's name."""

    def log(self, level, message):
        """Writes at an OpenSIPS level (-3 alert ... 4 debug)."""
        _log.log(level, str(message))

    def error(self, message):
        self.log(-1, message)

    def warn(self, message):
        self.log(1, message)

    def info(self, message):
        self.log(3, message)

    def debug(self, message):
        self.log(4, message)


class _Stats:
    """Capability ``stats``: the statistics the module declared, in its own group."""

    def add(self, name, delta=1):
        """Adds ``delta`` (may be negative; saturates at 0); False if not declared."""
        return _stats.add(name, int(delta))

    def set(self, name, value):
        """Sets the value; False if not declared."""
        return _stats.set(name, int(value))

    def get(self, name):
        """The current value, None if not declared."""
        return _stats.get(name)


class _Cache:
    """Capability ``cache``: the daemon's ``local`` store, under the module's key prefix."""

    def store(self, key, value, expire=0):
        """Stores a text value for ``expire`` seconds (0: never); MiError 500 when full."""
        try:
            _cache.store(key, str(value), int(expire))
        except Err:
            raise MiError(500, "the cache is full")

    def fetch(self, key):
        """The value, or None if absent or expired."""
        return _cache.fetch(key)

    def remove(self, key):
        _cache.remove(key)


class _Events:
    """Capability ``events``: raise the events the module declared."""

    def raise_event(self, event, params):
        """Raises ``event`` with ``params`` (a dict of int or text values); returns False
        when nobody is subscribed, raises MiError when it was not declared or failed."""
        values = []
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, int):
                values.append((name, _events.EventValue_Text(str(value))))
            else:
                values.append((name, _events.EventValue_Int(value)))
        try:
            _events.raise_(event, values)
        except Err as refused:
            if refused.value == _events.RaiseError.NO_SUBSCRIBERS:
                return False
            raise MiError(500, f"event {event} not raised: {refused.value.name.lower()}")
        return True


class _Mi:
    """Capability ``mi``: run another MI command (a ``miwa script`` line)."""

    def call(self, line):
        """Runs ``line`` and returns its result, parsed; raises its MiError."""
        try:
            return json.loads(_mi.call(line))
        except Err as failed:
            error = failed.value
            raise MiError(error.code, error.message, error.data)


log = _Log()
stats = _Stats()
cache = _Cache()
events = _Events()
mi = _Mi()


class Module:
    """A module's description and handlers."""

    def __init__(self, name, version):
        self.name = name
        self.version = version
        self._commands = []
        self._handlers = {}
        self._events = []
        self._statistics = []
        self._tick = None

    def command(self, name, help=None, recipes=None, named_only=False, types=None):
        """Registers the decorated function ``f(params) -> value`` as command ``name``;
        ``recipes`` lists its parameter sets, in matching order (default: none);
        ``types`` gives parameters their types by name, ``"integer"``, ``"string"`` or
        ``"string-array"`` (the daemon's ``rpc.discover`` shows them; an untyped
        parameter is any JSON value)."""

        def register(handler):
            self._commands.append(
                _api.Command(
                    name=name,
                    help=help,
                    named_only=named_only,
                    recipes=[list(r) for r in (recipes or [[]])],
                    param_types=[(p, _PARAM_TYPES[t]) for p, t in (types or {}).items()],
                )
            )
            self._handlers[name] = handler
            return handler

        return register

    def statistic(self, name, gauge=False):
        """Declares a statistic of the module's group: a counter, or a gauge."""
        kind = _api.StatisticKind.GAUGE if gauge else _api.StatisticKind.COUNTER
        self._statistics.append(_api.Statistic(name=name, kind=kind))

    def event(self, name):
        """Declares an event the module may raise."""
        self._events.append(name)

    def tick(self, handler):
        """Registers the decorated function as the module's tick (called every
        ``tick_ms`` when granted ``tick``); an exception fails that tick only."""
        self._tick = handler
        return handler

    def api(self):
        """The class componentize-py instantiates: assign it to ``ModuleApi``."""
        module = self

        class ModuleApi(exports.ModuleApi):
            def describe(self):
                return _api.ModuleInfo(
                    name=module.name,
                    version=module.version,
                    commands=module._commands,
                    events=module._events,
                    statistics=module._statistics,
                )

            def call(self, command, params):
                handler = module._handlers.get(command)
                if handler is None:
                    raise Err(_types.MiError(code=-32601, message="Method not found", data=None))
                try:
                    return json.dumps(handler(json.loads(params)), separators=(",", ":"))
                except MiError as error:
                    raise Err(_mi_error(error))
                except Exception as error:
                    traceback.print_exc(file=sys.stderr)
                    raise Err(
                        _types.MiError(
                            code=500,
                            message=f"{command} raised {type(error).__name__}: {error}",
                            data=None,
                        )
                    )

            def tick(self):
                if module._tick is None:
                    return
                try:
                    module._tick()
                except Exception as error:
                    traceback.print_exc(file=sys.stderr)
                    raise Err(f"{type(error).__name__}: {error}")

        return ModuleApi
