"""routes: a prefix routing table read from a CSV file and reloaded on command, in the
spirit of OpenSIPS's dr_reload. Grants: files (the file's directory in read_only_dirs),
cache (the parsed table, its file and generation, shared by every instance), stats,
events; with tick, a changed file is reloaded by itself."""

import json
import os

from miwa_module import MiError, Module, cache, events, log, stats

module = Module("routes", "1.0")
module.statistic("routes", gauge=True)
module.statistic("lookups")
module.statistic("misses")
module.statistic("reloads")
module.event("E_ROUTES_RELOADED")

# The table this instance parsed, and the generation it was parsed at.
_loaded = {"generation": None, "routes": []}


def _parse(path):
    """The routes of ``path``, longest prefix first; MiError naming the line at fault."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except OSError as error:
        raise MiError(500, f"cannot read {path}: {error.strerror or error}")
    routes = []
    seen = set()
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 2 or not fields[0].isdigit() or not fields[1]:
            raise MiError(400, f"{path} line {number}: expected <digits>,<gateway>[,<description>]")
        if fields[0] in seen:
            raise MiError(400, f"{path} line {number}: prefix {fields[0]} is listed twice")
        seen.add(fields[0])
        routes.append(
            {
                "prefix": fields[0],
                "gateway": fields[1],
                "description": ",".join(fields[2:]),
            }
        )
    routes.sort(key=lambda r: len(r["prefix"]), reverse=True)
    return routes


def _reload(path):
    """Parses ``path``; only a file that parses replaces the table (for every instance)."""
    routes = _parse(path)
    generation = int(cache.fetch("generation") or 0) + 1
    cache.store("table", json.dumps(routes))
    cache.store("file", path)
    cache.store("mtime", str(os.stat(path).st_mtime_ns))
    cache.store("generation", str(generation))
    _loaded["generation"] = str(generation)
    _loaded["routes"] = routes
    stats.set("routes", len(routes))
    stats.add("reloads")
    events.raise_event("E_ROUTES_RELOADED", {"file": path, "routes": len(routes)})
    log.info(f"loaded {len(routes)} routes from {path}")
    return generation


def _table():
    """The current table, taken from the cache again if an instance reloaded it since."""
    generation = cache.fetch("generation")
    if generation is None:
        raise MiError(404, "No routes loaded (routes_reload file=<path>)")
    if generation != _loaded["generation"]:
        _loaded["routes"] = json.loads(cache.fetch("table"))
        _loaded["generation"] = generation
    return _loaded["routes"]


@module.command(
    "routes_reload",
    "reads the routing table again, from file (kept for later reloads) or the last one",
    recipes=[["file"], []],
    types={"file": "string"},
)
def reload(params):
    path = params.get("file") or cache.fetch("file")
    if not path:
        raise MiError(400, "No file given, and none loaded before")
    generation = _reload(path)
    return {"file": path, "routes": len(_loaded["routes"]), "generation": generation}


@module.command(
    "routes_lookup",
    "the route of the longest prefix of number",
    recipes=[["number"]],
    types={"number": "string"},
)
def lookup(params):
    number = str(params["number"])
    stats.add("lookups")
    for route in _table():
        if number.startswith(route["prefix"]):
            return route
    stats.add("misses")
    raise MiError.not_found("No route")


@module.command("routes_list", "every route, longest prefix first")
def list_routes(params):
    return {"file": cache.fetch("file"), "Routes": _table()}


@module.tick
def follow_the_file():
    """Reloads the file when its modification time changed."""
    path = cache.fetch("file")
    if not path:
        return
    if str(os.stat(path).st_mtime_ns) != cache.fetch("mtime"):
        _reload(path)


ModuleApi = module.api()
