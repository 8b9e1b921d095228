#!/usr/bin/env python3
"""The compose stack's smoke checks, over the ports it publishes on 127.0.0.1 (scripts/compose-test.sh).

    smoke.py API_URL SERVER_JSON [PROMETHEUS_URL]

A publish through nginx is read back through nginx (and read enough times that both replicas answer); a
registry token from `POST /v0/auth/none` (`mcp-publisher login none`) publishes through nginx as many times,
so that both replicas check what one of them signed; the worker has synced both file registries; with PROMETHEUS_URL, every scrape target is up and the alert rules
are loaded. Every wait is bounded; a failure says what was last seen and exits 1.
"""

import json
import sys
import time
import urllib.error
import urllib.request

FILE_REGISTRIES = ("team-catalogue", "toolhive-databases")
READS = 20


def request(method, url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"} if data else {}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def get(url):
    """(the JSON body, None) of a 200 answer, or (None, what came instead)."""
    status, body = request("GET", url)
    return (body, None) if status == 200 else (None, (status, body))


def until(what, url, judge, seconds):
    """GETs url until judge(body) of a 200 answer says (True, seen), for at most `seconds`; returns seen."""
    deadline = time.monotonic() + seconds
    while True:
        body, failed = get(url)
        ok, seen = judge(body) if failed is None else (False, failed)
        if ok:
            return seen
        if time.monotonic() > deadline:
            sys.exit(f"smoke: {what} within {seconds} s; last seen: {seen}")
        time.sleep(1)


def publish_and_read_back(api, document):
    name, version = document["name"], document["version"]
    status, body = request("POST", f"{api}/v0.1/publish", document)
    if status not in (200, 201):
        sys.exit(f"smoke: publish through nginx answered {status}: {body}")
    path = f"{api}/v0.1/servers/{urllib.request.quote(name, safe='')}/versions/{version}"
    for _ in range(READS):
        status, body = request("GET", path)
        if status != 200 or body["server"]["name"] != name:
            sys.exit(f"smoke: reading {name} {version} back through nginx answered {status}: {body}")
    print(f"smoke: published {name} {version} and read it back {READS} times through nginx")


def registry_token_works_on_both_replicas(api, document):
    status, body = request("POST", f"{api}/v0/auth/none")
    if status != 200:
        sys.exit(f"smoke: POST /v0/auth/none through nginx answered {status}: {body}")
    token = body["registry_token"]
    name = "io.modelcontextprotocol.anonymous/smoke"
    for i in range(READS):
        version = f"1.0.{i}"
        minimal = {"$schema": document["$schema"], "name": name, "description": "smoke", "version": version}
        status, body = request("POST", f"{api}/v0/publish", minimal, token)
        if status != 201:
            sys.exit(f"smoke: publishing {name} {version} with the registry token answered {status}: {body}")
    print(f"smoke: a registry token published {READS} versions through nginx")


def file_registries_synced(api):
    def judge(body):
        registries = body.get("registries", body) if isinstance(body, dict) else body
        phases = {r["name"]: r["syncStatus"] for r in registries if r["name"] in FILE_REGISTRIES}
        synced = all(
            s.get("lastSyncTime") and s.get("serverCount", 0) > 0 for s in phases.values()
        ) and len(phases) == len(FILE_REGISTRIES)
        return synced, phases

    what = "the worker did not sync both file registries"
    phases = until(what, f"{api}/extension/v0/registries", judge, 120)
    counts = ", ".join(f"{name} {s['serverCount']}" for name, s in phases.items())
    print(f"smoke: the worker synced both file registries ({counts} versions)")


def prometheus_ready(prometheus):
    def judge(body):
        active = body["data"]["activeTargets"]
        health = {t["labels"]["instance"]: t["health"] for t in active}
        return len(active) == 3 and all(h == "up" for h in health.values()), health

    what = "Prometheus did not report every target up"
    health = until(what, f"{prometheus}/api/v1/targets", judge, 90)
    body, failed = get(f"{prometheus}/api/v1/rules")
    rules = [r["name"] for g in body["data"]["groups"] for r in g["rules"]] if body else []
    if not rules:
        sys.exit(f"smoke: Prometheus has loaded no alert rules: {failed or body}")
    print(f"smoke: Prometheus scrapes {len(health)} targets, all up, and has loaded {len(rules)} alert rules")


def main():
    api, server_json = sys.argv[1], sys.argv[2]
    with open(server_json, encoding="utf-8") as file:
        document = json.load(file)
    publish_and_read_back(api, document)
    registry_token_works_on_both_replicas(api, document)
    file_registries_synced(api)
    if len(sys.argv) > 3:
        prometheus_ready(sys.argv[3])


if __name__ == "__main__":
    main()
