#!/usr/bin/env python3
"""Static checks of the docker-compose lab (docker-compose.yml, deploy/Dockerfile,
deploy/compose/) — no Docker engine needed.

Validates the compose file with `docker-compose config`, reads the normalized
configuration it prints, and checks that:
  - the five services exist; Kafka runs KRaft (broker+controller, one node,
    nothing of ZooKeeper), single-node replication settings, no auto-created
    topics, a kafka-topics.sh healthcheck;
  - the `topics` job creates exactly the topics of the lab's c2watch config
    (deploy/compose/c2watch.yaml), and those agree with the defaults
    (deploy/c2watch.yaml);
  - every bootstrap address (c2watch, topics job, replayer, viewer) is the
    broker's advertised listener;
  - the start order (kafka healthy -> topics completed -> the rest);
  - the replayer's files exist in the repository;
  - deploy/Dockerfile has the build, runtime and replayer stages and its COPY
    sources exist and are not excluded by .dockerignore.

Python 3 standard library only: a small YAML reader for the subset these files
use (block maps and sequences, flow collections, quoted and block scalars,
anchors) is included. One line per check, then `N passed, M failed`; exit 1 on
any failure.

usage: python3 tests/check_compose.py [--root DIR] [--docker-compose PATH]
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

SERVICES = ("kafka", "topics", "c2watch", "replayer", "alerts")
INPUT_TOPIC_KEYS = ("zeek", "sysmon", "eve")


# ---------------------------------------------------------------------------
# A YAML reader for a subset: enough for compose files, c2watch configs and
# PyYAML's normalized output. Every scalar is returned as a string (no type
# resolution); an empty value or ~ / null is None.
# ---------------------------------------------------------------------------


class YamlError(Exception):
    pass


_NULLS = ("", "~", "null", "Null", "NULL")


def _strip_comment(s):
    """Removes a trailing # comment (outside quotes)."""
    quote = None
    i = 0
    while i < len(s):
        c = s[i]
        if quote:
            if c == quote:
                if quote == "'" and i + 1 < len(s) and s[i + 1] == "'":
                    i += 2
                    continue
                quote = None
            elif quote == '"' and c == "\\":
                i += 2
                continue
        elif c in "'\"":
            before = s[:i].rstrip()
            if before == "" or before[-1] in ":-[{,?":
                quote = c
        elif c == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
        i += 1
    return s.rstrip()


def _unquote_double(body, where):
    out = []
    i = 0
    esc = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"',
           "/": "/", " ": " ", "e": "\x1b", "a": "\a", "b": "\b"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n in esc:
                out.append(esc[n])
                i += 2
                continue
            for letter, width in (("x", 2), ("u", 4), ("U", 8)):
                if n == letter:
                    out.append(chr(int(body[i + 2:i + 2 + width], 16)))
                    i += 2 + width
                    break
            else:
                raise YamlError("%s: unknown escape \\%s" % (where, n))
            continue
        out.append(c)
        i += 1
    return "".join(out)


class _Flow:
    """Flow collections: [a, b], {k: v}, nested, with quoted scalars."""

    def __init__(self, text, where):
        self.s = text
        self.i = 0
        self.where = where

    def error(self, msg):
        raise YamlError("%s: %s in %r" % (self.where, msg, self.s))

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t\n":
            self.i += 1

    def value(self, stops):
        self.ws()
        if self.i >= len(self.s):
            self.error("unexpected end")
        c = self.s[self.i]
        if c == "[":
            self.i += 1
            out = []
            while True:
                self.ws()
                if self.s[self.i:self.i + 1] == "]":
                    self.i += 1
                    return out
                out.append(self.value(",]"))
                self.ws()
                if self.s[self.i:self.i + 1] == ",":
                    self.i += 1
                elif self.s[self.i:self.i + 1] != "]":
                    self.error("expected , or ]")
        if c == "{":
            self.i += 1
            out = {}
            while True:
                self.ws()
                if self.s[self.i:self.i + 1] == "}":
                    self.i += 1
                    return out
                key = self.value(":,}")
                self.ws()
                val = None
                if self.s[self.i:self.i + 1] == ":":
                    self.i += 1
                    val = self.value(",}")
                out[key] = val
                self.ws()
                if self.s[self.i:self.i + 1] == ",":
                    self.i += 1
                elif self.s[self.i:self.i + 1] != "}":
                    self.error("expected , or }")
        if c in "'\"":
            j = self.i + 1
            while j < len(self.s):
                if self.s[j] == c:
                    if c == "'" and self.s[j + 1:j + 2] == "'":
                        j += 2
                        continue
                    break
                if c == '"' and self.s[j] == "\\":
                    j += 1
                j += 1
            else:
                self.error("unterminated quote")
            body = self.s[self.i + 1:j]
            self.i = j + 1
            if c == "'":
                return body.replace("''", "'")
            return _unquote_double(body, self.where)
        j = self.i
        while j < len(self.s):
            ch = self.s[j]
            if ch in stops and ch != ":":
                break
            if ch == ":" and ":" in stops and (j + 1 == len(self.s) or self.s[j + 1] in " ,}]"):
                break
            j += 1
        text = self.s[self.i:j].strip()
        self.i = j
        return None if text in _NULLS else text


def _scalar(text, where):
    text = text.strip()
    if not text:
        return None
    if text[0] in "[{":
        f = _Flow(text, where)
        v = f.value("")
        f.ws()
        if f.i != len(text):
            f.error("trailing text")
        return v
    if text[0] == "'":
        if len(text) < 2 or text[-1] != "'":
            raise YamlError("%s: unterminated single quote" % where)
        return text[1:-1].replace("''", "'")
    if text[0] == '"':
        if len(text) < 2 or text[-1] != '"':
            raise YamlError("%s: unterminated double quote" % where)
        return _unquote_double(text[1:-1], where)
    return None if text in _NULLS else text


def _split_key(content):
    """'key: rest' -> (key, rest), or None when content is not a map entry."""
    if content[:1] in "'\"":
        q = content[0]
        j = 1
        while j < len(content):
            if content[j] == q:
                if q == "'" and content[j + 1:j + 2] == "'":
                    j += 2
                    continue
                break
            if q == '"' and content[j] == "\\":
                j += 1
            j += 1
        else:
            return None
        rest = content[j + 1:].lstrip(" ")
        if rest[:1] == ":" and (len(rest) == 1 or rest[1] in " \t"):
            return _scalar(content[:j + 1], "key"), rest[1:].strip()
        return None
    if content[:1] in "[{":
        return None
    m = re.match(r"^([^#]*?):(?:[ \t]+(.*)|)$", content)
    if not m:
        return None
    return m.group(1).strip(), (m.group(2) or "").strip()


class _Block:
    def __init__(self, text, name):
        self.lines = text.replace("\r\n", "\n").split("\n")
        self.name = name
        self.i = 0
        self.anchors = {}

    def where(self):
        return "%s:%d" % (self.name, self.i + 1)

    def peek(self):
        """(indent, content) of the next meaningful line, or None."""
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            lead = raw[:len(raw) - len(raw.lstrip(" \t"))]
            if "\t" in lead and raw.strip():
                raise YamlError("%s: tab in indentation" % self.where())
            content = _strip_comment(raw.strip())
            if content in ("", "---", "..."):
                self.i += 1
                continue
            return len(lead), content
        return None

    def node(self, min_indent):
        p = self.peek()
        if p is None or p[0] < min_indent:
            return None
        indent, content = p
        if content == "-" or content.startswith("- "):
            return self.seq(indent)
        return self.map(indent)

    def map(self, indent):
        out = {}
        while True:
            p = self.peek()
            if p is None or p[0] < indent:
                return out
            if p[0] > indent:
                raise YamlError("%s: bad indentation" % self.where())
            content = p[1]
            if content == "-" or content.startswith("- "):
                return out
            kv = _split_key(content)
            if kv is None:
                raise YamlError("%s: expected 'key: value', got %r" % (self.where(), content))
            self.i += 1
            key, rest = kv
            value = self.value(rest, indent, in_map=True)
            if key == "<<" and isinstance(value, dict):
                for k, v in value.items():
                    out.setdefault(k, v)
            else:
                out[key] = value

    def seq(self, indent):
        out = []
        while True:
            p = self.peek()
            if p is None or p[0] < indent:
                return out
            if p[0] > indent:
                raise YamlError("%s: bad indentation" % self.where())
            content = p[1]
            if not (content == "-" or content.startswith("- ")):
                return out
            rest = content[1:].lstrip(" ")
            col = indent + len(content) - len(rest)
            if rest and (rest == "-" or rest.startswith("- ") or
                         (_split_key(rest) is not None and rest[0] not in "&*!")):
                # "- key: v" or "- - x": re-read the rest as a block at its column.
                self.lines[self.i] = " " * col + rest
                out.append(self.node(col))
            else:
                self.i += 1
                out.append(self.value(rest, indent, in_map=False))

    def value(self, rest, indent, in_map):
        anchor = None
        m = re.match(r"^&(\S+)\s*(.*)$", rest)
        if m:
            anchor, rest = m.group(1), m.group(2)
        m = re.match(r"^\*(\S+)$", rest)
        if m:
            if m.group(1) not in self.anchors:
                raise YamlError("%s: unknown alias *%s" % (self.where(), m.group(1)))
            return self.anchors[m.group(1)]
        if rest.startswith("!"):
            rest = rest.split(None, 1)[1] if " " in rest else ""
        if rest == "":
            p = self.peek()
            if p is not None and p[0] > indent:
                v = self.node(indent + 1)
            elif in_map and p is not None and p[0] == indent and (p[1] == "-" or p[1].startswith("- ")):
                v = self.seq(indent)
            else:
                v = None
        elif rest[0] in "|>":
            v = self.block_scalar(rest, indent)
        else:
            parts = [rest]
            while True:  # continuation lines of a multi-line scalar
                p = self.peek()
                if p is None or p[0] <= indent:
                    break
                parts.append(p[1])
                self.i += 1
            v = _scalar(" ".join(parts), self.where())
        if anchor:
            self.anchors[anchor] = v
        return v

    def block_scalar(self, header, indent):
        m = re.match(r"^([|>])([-+]?)([1-9]?)([-+]?)$", header)
        if not m:
            raise YamlError("%s: bad block scalar header %r" % (self.where(), header))
        style, chomp = m.group(1), m.group(2) or m.group(4)
        body = []
        block_indent = indent + int(m.group(3)) if m.group(3) else None
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            if raw.strip() == "":
                body.append("")
                self.i += 1
                continue
            ind = len(raw) - len(raw.lstrip(" "))
            if ind <= indent:
                break
            if block_indent is None:
                block_indent = ind
            if ind < block_indent:
                break
            body.append(raw[block_indent:])
            self.i += 1
        trailing = 0
        while body and body[-1] == "":
            body.pop()
            trailing += 1
        if style == "|":
            text = "\n".join(body)
        else:
            text = ""
            for k, line in enumerate(body):
                if k == 0:
                    text = line
                elif line == "" or body[k - 1] == "":
                    text += "\n" + line if line else ""
                else:
                    text += " " + line
        if chomp == "-" or not body:
            return text
        if chomp == "+":
            return text + "\n" * (trailing + 1)
        return text + "\n"


def parse_yaml(text, name="<yaml>"):
    b = _Block(text, name)
    v = b.node(0)
    if b.peek() is not None:
        raise YamlError("%s: unexpected content" % b.where())
    return v


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return parse_yaml(f.read(), path)


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------


def dockerfile_instructions(text):
    """[(lineno, INSTRUCTION, args)] with continuation lines joined."""
    out = []
    buf, start = "", 0
    for n, line in enumerate(text.split("\n"), 1):
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        parts = buf.split(None, 1)
        out.append((start, parts[0].upper(), parts[1] if len(parts) > 1 else ""))
        buf = ""
    return out


def dockerfile_stages(text):
    """{stage name: {'from': image, 'instr': [(n, INSTR, args)]}} in order."""
    stages = {}
    order = []
    cur = None
    for n, ins, args in dockerfile_instructions(text):
        if ins == "FROM":
            m = re.match(r"^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", args, re.I)
            name = (m.group(2) or str(len(order))).lower()
            cur = {"from": m.group(1), "instr": [], "line": n}
            stages[name] = cur
            order.append(name)
        elif cur is not None:
            cur["instr"].append((n, ins, args))
    return stages, order


def copy_sources(args):
    """(flags, sources, dest) of a COPY/ADD, shell or JSON form."""
    args = args.strip()
    flags = []
    while args.startswith("--"):
        flag, _, args = args.partition(" ")
        flags.append(flag)
        args = args.strip()
    if args.startswith("["):
        items = json.loads(args)
    else:
        items = shlex.split(args)
    return flags, items[:-1], items[-1] if items else ""


def dockerignore_patterns(root):
    path = os.path.join(root, ".dockerignore")
    if not os.path.exists(path):
        return []
    pats = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith("#"):
                pats.append(s.strip("/"))
    return pats


def ignored(relpath, patterns):
    """True when .dockerignore excludes relpath or one of its parents (no ! rules here)."""
    import fnmatch
    rel = os.path.normpath(relpath).strip("/")
    parts = rel.split("/")
    for k in range(1, len(parts) + 1):
        prefix = "/".join(parts[:k])
        for p in patterns:
            if p.startswith("!"):
                continue
            if fnmatch.fnmatchcase(prefix, p) or (p.startswith("**/") and fnmatch.fnmatchcase(parts[k - 1], p[3:])):
                return True
    return False


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS %s%s" % (name, (": " + detail) if detail else ""))
        else:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + detail) if detail else ""))
        return ok

    def skip(self, name, detail):
        self.skipped += 1
        print("SKIP %s: %s" % (name, detail))

    def finish(self):
        print("%d passed, %d failed%s" % (self.passed, self.failed,
                                          ", %d skipped" % self.skipped if self.skipped else ""))
        return 1 if self.failed else 0


def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        d = {}
        for item in env:
            k, _, v = item.partition("=")
            d[k] = v
        env = d
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def as_list(cmd):
    if cmd is None:
        return []
    if isinstance(cmd, str):
        return shlex.split(cmd)
    return [str(c) for c in cmd]


def condition(svc, dep):
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return "service_started" if dep in deps else None
    d = deps.get(dep)
    if d is None and dep not in deps:
        return None
    return (d or {}).get("condition", "service_started")


def volume_map(svc, root):
    """[(source relative to root or volume name, target, read_only)]"""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            src, dst, ro = v.get("source", ""), v.get("target", ""), str(v.get("read_only", "")).lower() == "true"
        else:
            bits = v.split(":")
            src, dst = bits[0], bits[1] if len(bits) > 1 else bits[0]
            ro = len(bits) > 2 and "ro" in bits[2].split(",")
        if src.startswith("/") or src.startswith("."):
            src = os.path.relpath(os.path.join(root, src), root)
        out.append((src, dst, ro))
    return out


def host_path(container_path, vols):
    """Repository path of a container path under a bind mount, or None."""
    best = None
    for src, dst, _ro in vols:
        dst = dst.rstrip("/")
        if container_path == dst or container_path.startswith(dst + "/"):
            if best is None or len(dst) > len(best[1]):
                best = (src, dst)
    if best is None:
        return None
    return os.path.normpath(os.path.join(best[0], container_path[len(best[1]):].lstrip("/")))


def listeners(value):
    """'NAME://host:port,...' -> {NAME: (host, port)}"""
    out = {}
    for item in (value or "").split(","):
        item = item.strip()
        m = re.match(r"^([A-Za-z0-9_]+)://(\[[^\]]*\]|[^:]*):(\d+)$", item)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


def brokers_of(value):
    return [b.strip() for b in (value or "").split(",") if b.strip()]


def run(cmd, root):
    try:
        p = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return 127, "", str(e)
    return p.returncode, p.stdout, p.stderr


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(here), help="repository root")
    ap.add_argument("--docker-compose", default="docker-compose", help="docker-compose command")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    c = Checker()

    compose_file = os.path.join(root, "docker-compose.yml")
    dc = shutil.which(a.docker_compose)
    if not dc:
        c.check("docker-compose available", False,
                "'%s' not found: install Debian's docker-compose package "
                "(sh deploy/install-deps.sh does)" % a.docker_compose)
        return c.finish()
    c.check("docker-compose available", True, dc)
    if not c.check("docker-compose.yml exists", os.path.exists(compose_file)):
        return c.finish()

    # Keep the user's environment from changing what is validated.
    for var in ("COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME"):
        os.environ.pop(var, None)
    base = [dc, "-f", compose_file, "--project-directory", root]
    rc, _out, err = run(base + ["config", "-q"], root)
    if not c.check("docker-compose config validates the file", rc == 0, err.strip().replace("\n", " | ")):
        return c.finish()
    rc, out, err = run(base + ["config"], root)
    try:
        cfg = parse_yaml(out, "docker-compose config") if rc == 0 else None
    except YamlError as e:
        cfg = None
        err = str(e)
    if not c.check("normalized configuration read", isinstance(cfg, dict), err.strip()[:300]):
        return c.finish()
    version = str(cfg.get("version") or "")
    c.check("compose file format 3.x", version.startswith("3."), "docker-compose reads it as %s" % version)

    services = cfg.get("services") or {}
    rc, out, _ = run(base + ["config", "--services"], root)
    listed = set(out.split())
    c.check("services are %s" % ", ".join(SERVICES),
            set(services) == set(SERVICES) == listed, "found %s" % ", ".join(sorted(set(services) | listed)))
    if not all(s in services for s in SERVICES):
        return c.finish()
    kafka, topics, c2w, replayer, alerts = (services[s] for s in SERVICES)

    # -- Kafka: KRaft, one node --------------------------------------------
    with open(compose_file, encoding="utf-8") as f:
        compose_text = f.read()
    kenv = env_of(kafka)
    c.check("kafka image is apache/kafka", str(kafka.get("image", "")).startswith("apache/kafka:"),
            str(kafka.get("image")))
    roles = {r.strip() for r in kenv.get("KAFKA_PROCESS_ROLES", "").split(",") if r.strip()}
    c.check("kafka is KRaft: process roles broker,controller", roles == {"broker", "controller"},
            kenv.get("KAFKA_PROCESS_ROLES", "(unset)"))
    lab_files = [os.path.join(root, "deploy", "Dockerfile")] + [
        os.path.join(d, f) for d, _s, fs in os.walk(os.path.join(root, "deploy", "compose")) for f in fs]
    zk = [os.path.relpath(p, root) for p in lab_files
          if os.path.isfile(p) and "zookeeper" in open(p, encoding="utf-8", errors="replace").read().lower()]
    if "zookeeper" in compose_text.lower() or "zookeeper" in json.dumps(cfg).lower():
        zk.insert(0, "docker-compose.yml")
    c.check("no ZooKeeper anywhere (compose, Dockerfile, deploy/compose/)", not zk, ", ".join(zk))
    lst = listeners(kenv.get("KAFKA_LISTENERS"))
    adv = listeners(kenv.get("KAFKA_ADVERTISED_LISTENERS"))
    pmap = dict(p.split(":", 1) for p in kenv.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(",") if ":" in p)
    ctl_names = [n.strip() for n in kenv.get("KAFKA_CONTROLLER_LISTENER_NAMES", "").split(",") if n.strip()]
    node_id = kenv.get("KAFKA_NODE_ID", "")
    kafka_host = kafka.get("hostname") or "kafka"
    c.check("kafka listeners PLAINTEXT://:9092 and CONTROLLER://:9093",
            lst.get("PLAINTEXT", ("", ""))[1] == "9092" and lst.get("CONTROLLER", ("", ""))[1] == "9093",
            kenv.get("KAFKA_LISTENERS", "(unset)"))
    c.check("kafka controller listener is declared and mapped",
            bool(ctl_names) and all(n in lst and n in pmap for n in ctl_names) and
            all(n in pmap for n in lst), "names %s, map %s" % (ctl_names, sorted(pmap)))
    voters = [v.strip() for v in kenv.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "").split(",") if v.strip()]
    want_voter = "%s@%s:%s" % (node_id, kafka_host, lst.get(ctl_names[0] if ctl_names else "", ("", ""))[1])
    c.check("kafka quorum is this one node", node_id.isdigit() and voters == [want_voter],
            "voters %s, expected %s" % (voters, want_voter))
    c.check("kafka advertises PLAINTEXT://%s:9092 (its own service name)" % "kafka",
            adv.get("PLAINTEXT") == ("kafka", "9092") and kafka_host == "kafka" and
            not any(n in adv for n in ctl_names), kenv.get("KAFKA_ADVERTISED_LISTENERS", "(unset)"))
    single = {"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
              "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
              "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
              "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false"}
    bad = ["%s=%s" % (k, kenv.get(k)) for k, v in single.items() if kenv.get(k, "").lower() != v]
    c.check("kafka single-node settings, no auto-created topics", not bad, ", ".join(bad))
    hc = as_list((kafka.get("healthcheck") or {}).get("test"))
    c.check("kafka healthcheck lists topics with /opt/kafka/bin/kafka-topics.sh",
            "/opt/kafka/bin/kafka-topics.sh" in " ".join(hc) and "--list" in hc and
            "localhost:9092" in hc, " ".join(hc))
    advertised = {"%s:%s" % hp for hp in adv.values()}

    # -- c2watch configs ------------------------------------------------------
    lab_path = os.path.join(root, "deploy", "compose", "c2watch.yaml")
    def_path = os.path.join(root, "deploy", "c2watch.yaml")
    lab = defaults = None
    for label, path in (("lab config", lab_path), ("default config", def_path)):
        try:
            doc = load_yaml(path)
            ok = isinstance(doc, dict) and isinstance(doc.get("topics"), dict)
            c.check("%s %s read" % (label, os.path.relpath(path, root)), ok,
                    "" if ok else "no topics: mapping")
            if ok:
                if path == lab_path:
                    lab = doc
                else:
                    defaults = doc
        except (OSError, YamlError) as e:
            c.check("%s %s read" % (label, os.path.relpath(path, root)), False, str(e))
    lab_topics = {k: (v or "") for k, v in ((lab or {}).get("topics") or {}).items()}
    def_topics = {k: (v or "") for k, v in ((defaults or {}).get("topics") or {}).items()}
    # The built-in defaults, when the settings table of consumer/config.c can be read.
    builtin = {}
    cfg_c = os.path.join(root, "consumer", "config.c")
    if os.path.exists(cfg_c):
        with open(cfg_c, encoding="utf-8", errors="replace") as f:
            for m in re.finditer(r'\{\s*"topics\.(\w+)"\s*,\s*CT_\w+\s*,\s*"([^"]*)"', f.read()):
                builtin[m.group(1)] = m.group(2)
    if builtin and defaults is not None:
        diff = ["%s: file %r, built-in %r" % (k, v, builtin.get(k)) for k, v in sorted(def_topics.items())
                if builtin.get(k) != v]
        c.check("deploy/c2watch.yaml topics agree with the built-in defaults (consumer/config.c)", not diff,
                "; ".join(diff))
        def_topics = dict(builtin, **def_topics)  # a key the file leaves out has its built-in value
    elif defaults is not None:
        c.skip("deploy/c2watch.yaml topics agree with the built-in defaults",
               "no topics.* settings found in consumer/config.c")

    # -- topics job -----------------------------------------------------------
    tenv = env_of(topics)
    tvols = volume_map(topics, root)
    c.check("topics job waits for kafka healthy", condition(topics, "kafka") == "service_healthy",
            str(condition(topics, "kafka")))
    c.check("topics job runs the kafka image", topics.get("image") == kafka.get("image"), str(topics.get("image")))
    entry = as_list(topics.get("entrypoint")) + as_list(topics.get("command"))
    script = next((host_path(x, tvols) for x in entry if x.endswith(".sh") and host_path(x, tvols)), None)
    script_ok = script is not None and os.path.isfile(os.path.join(root, script))
    script_text = open(os.path.join(root, script), encoding="utf-8").read() if script_ok else ""
    c.check("topics job script exists and creates with --if-not-exists",
            script_ok and "--if-not-exists" in script_text and "--create" in script_text,
            "%s (%s)" % (" ".join(entry), script))
    specs = tenv.get("TOPICS", "").split()
    created = {}
    for s in specs:
        name, _, parts = s.partition(":")
        created[name] = parts
    c.check("topics job partitions are positive", bool(created) and
            all(p.isdigit() and int(p) > 0 for p in created.values()), " ".join(specs))
    c.check("topics job bootstrap is the advertised listener", tenv.get("BOOTSTRAP") in advertised,
            "%s vs %s" % (tenv.get("BOOTSTRAP"), sorted(advertised)))

    named = {v for v in lab_topics.values() if v}
    c.check("topics created == topics of the lab config", set(created) == named,
            "created %s; lab config %s" % (sorted(created), sorted(named)))
    if defaults is not None:
        c.check("lab config and defaults have the same topic keys", set(lab_topics) == set(def_topics),
                "lab %s; defaults %s" % (sorted(lab_topics), sorted(def_topics)))
        diff = ["%s: lab %r, default %r" % (k, lab_topics.get(k), v)
                for k, v in sorted(def_topics.items()) if v and lab_topics.get(k) != v]
        c.check("lab topics agree with the defaults", not diff and bool(def_topics),
                "; ".join(diff) or ", ".join("%s=%s" % kv for kv in sorted(def_topics.items())))
        off = sorted(k for k, v in def_topics.items() if not v and lab_topics.get(k))
        if off:
            print("     (on in the lab, off by default: %s)" % ", ".join(
                "%s=%s" % (k, lab_topics[k]) for k in off))
    else:
        c.check("lab topics agree with the defaults", False, "deploy/c2watch.yaml missing or unreadable")

    # -- c2watch service --------------------------------------------------------
    df_path = os.path.join(root, "deploy", "Dockerfile")
    df_text = open(df_path, encoding="utf-8").read() if os.path.exists(df_path) else ""
    stages, order = dockerfile_stages(df_text)
    b = c2w.get("build") or {}
    bctx = os.path.relpath(os.path.join(root, str(b.get("context", ""))), root) if b else None
    c.check("c2watch is built from deploy/Dockerfile (context .), target runtime",
            bctx == "." and b.get("dockerfile") == "deploy/Dockerfile" and b.get("target") == "runtime"
            and "runtime" in stages, "context %s, %s, target %s" % (bctx, b.get("dockerfile"), b.get("target")))
    cmd = as_list(c2w.get("command"))
    c.check("c2watch command is run --config /etc/c2watch/c2watch.yaml",
            cmd == ["run", "--config", "/etc/c2watch/c2watch.yaml"], " ".join(cmd))
    cvols = volume_map(c2w, root)
    conf_src = host_path("/etc/c2watch/c2watch.yaml", cvols)
    c.check("c2watch gets the lab config at /etc/c2watch/c2watch.yaml",
            conf_src == "deploy/compose/c2watch.yaml" and all(ro for _s, d, ro in cvols if d.startswith("/etc/c2watch")),
            "mounted from %s" % conf_src)
    c.check("c2watch waits for the topics job to complete",
            condition(c2w, "topics") == "service_completed_successfully", str(condition(c2w, "topics")))
    c.check("c2watch restarts on failure", str(c2w.get("restart", "")).startswith("on-failure"),
            str(c2w.get("restart")))
    lab_brokers = brokers_of(((lab or {}).get("kafka") or {}).get("brokers"))
    c.check("c2watch bootstrap is kafka's advertised listener",
            bool(lab_brokers) and all(x in advertised for x in lab_brokers),
            "kafka.brokers %s, advertised %s" % (",".join(lab_brokers), ",".join(sorted(advertised))))
    lab_rules = str((lab or {}).get("rules") or "")
    c.check("lab config rules path is packaged by the Dockerfile", lab_rules.startswith("/usr/share/c2watch/rules")
            and "/usr/share/c2watch/rules" in df_text, lab_rules)

    # -- replayer -----------------------------------------------------------------
    rb = replayer.get("build") or {}
    c.check("replayer is built from deploy/Dockerfile, target replayer",
            rb.get("dockerfile") == "deploy/Dockerfile" and rb.get("target") == "replayer" and "replayer" in stages,
            "target %s" % rb.get("target"))
    c.check("replayer waits for the topics job to complete",
            condition(replayer, "topics") == "service_completed_successfully", str(condition(replayer, "topics")))
    rcmd = as_list(replayer.get("command"))
    rvols = volume_map(replayer, root)
    pairs = [x.split("=", 1) for x in rcmd[1:] if "=" in x]
    inputs = {lab_topics.get(k) for k in INPUT_TOPIC_KEYS if lab_topics.get(k)}
    problems = []
    loaded = {}
    for topic, path in pairs:
        hp = host_path(path, rvols)
        if hp is None:
            problems.append("%s is not under a mount" % path)
        elif not os.path.isfile(os.path.join(root, hp)):
            problems.append("%s missing" % hp)
        if topic not in inputs:
            problems.append("%s is not an input topic of the lab config" % topic)
        loaded[topic] = hp
    c.check("replayer's files exist in the repository and go to input topics", bool(pairs) and not problems,
            "; ".join(problems) or ", ".join("%s <- %s" % kv for kv in sorted(loaded.items())))
    want = {lab_topics.get("zeek"): "fixtures/demo/zeek.ndjson", lab_topics.get("sysmon"): "fixtures/demo/sysmon.ndjson"}
    c.check("replayer loads the demo data (zeek, sysmon)", all(loaded.get(t) == p for t, p in want.items()),
            str(want))
    c.check("replayer's mounts are read-only", bool(rvols) and all(ro for _s, _d, ro in rvols))
    renv = env_of(replayer)
    c.check("replayer bootstrap is the advertised listener", renv.get("BOOTSTRAP") in advertised,
            str(renv.get("BOOTSTRAP")))
    helper = rcmd[0] if rcmd else ""
    rstage = stages.get("replayer", {"instr": []})
    installs = [copy_sources(args) for _n, ins, args in rstage["instr"] if ins == "COPY"]
    helper_src = next((srcs[0] for _f, srcs, dst in installs if os.path.basename(dst) == helper and srcs), None)
    helper_text = ""
    if helper_src and os.path.isfile(os.path.join(root, helper_src)):
        helper_text = open(os.path.join(root, helper_src), encoding="utf-8").read()
    c.check("replayer command is installed by the replayer stage and runs kcat -P -b -t -l",
            bool(helper_text) and re.search(r"kcat -P -b \S+ -t \S+ -l", helper_text) is not None,
            "%s from %s" % (helper, helper_src))

    # -- alerts viewer --------------------------------------------------------------
    acmd = as_list(alerts.get("command"))
    def opt(args, flag):
        return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None
    c.check("alerts viewer consumes the lab's alerts topic with kcat -C",
            acmd[:2] == ["kcat", "-C"] and opt(acmd, "-t") == lab_topics.get("alerts") and
            opt(acmd, "-b") in advertised,
            " ".join(acmd))
    c.check("alerts viewer waits for the topics job",
            condition(alerts, "topics") in ("service_completed_successfully", "service_started"),
            str(condition(alerts, "topics")))

    # -- Dockerfile -------------------------------------------------------------------
    c.check("Dockerfile has stages build, runtime, replayer on Debian 12",
            all(s in stages for s in ("build", "runtime", "replayer")) and
            all(re.match(r"^debian:(12|bookworm)", stages[s]["from"]) for s in ("build", "runtime", "replayer")),
            ", ".join("%s=%s" % (s, stages[s]["from"]) for s in order))
    patterns = dockerignore_patterns(root)
    c.check(".dockerignore excludes build/ and .git", "build" in patterns and ".git" in patterns,
            ", ".join(patterns))
    missing = []
    for name in order:
        for n, ins, args in stages[name]["instr"]:
            if ins not in ("COPY", "ADD"):
                continue
            flags, srcs, _dst = copy_sources(args)
            if any(f.startswith("--from") for f in flags):
                frm = next(f.split("=", 1)[1] for f in flags if f.startswith("--from"))
                if frm.lower() not in stages or order.index(frm.lower()) >= order.index(name):
                    missing.append("line %d: --from=%s is not an earlier stage" % (n, frm))
                continue
            for s in srcs:
                rel = os.path.normpath(s)
                if rel == ".":
                    continue
                if not os.path.exists(os.path.join(root, rel)):
                    missing.append("line %d: %s does not exist" % (n, s))
                elif ignored(rel, patterns):
                    missing.append("line %d: %s is excluded by .dockerignore" % (n, s))
    c.check("Dockerfile COPY sources exist in the build context", bool(stages) and not missing,
            "; ".join(missing))
    build_runs = " ".join(a for _n, ins, a in stages.get("build", {"instr": []})["instr"] if ins == "RUN")
    c.check("build stage installs the -dev packages and runs make build/c2watch",
            all(p in build_runs for p in ("librdkafka-dev", "libyajl-dev", "libyaml-dev", "zlib1g-dev",
                                            "build-essential", "pkg-config")) and
            re.search(r"\bmake\b[^&;]*build/c2watch", build_runs) is not None)
    rt = stages.get("runtime", {"instr": []})["instr"]
    rt_runs = " ".join(a for _n, ins, a in rt if ins == "RUN")
    rt_copies = [copy_sources(a) for _n, ins, a in rt if ins == "COPY"]
    dests = {(tuple(f), tuple(s), d) for f, s, d in rt_copies}
    def copies(src, dst):
        return any(src in [os.path.normpath(x) for x in s] and os.path.normpath(d) == dst for _f, s, d in dests)
    c.check("runtime stage installs only the runtime libraries",
            all(p in rt_runs for p in ("librdkafka1", "libyajl2", "libyaml-0-2", "zlib1g", "ca-certificates"))
            and "-dev" not in rt_runs and "build-essential" not in rt_runs)
    c.check("runtime stage copies the binary, rules and default config",
            any("--from=build" in f and d == "/usr/local/bin/c2watch" for f, _s, d in dests) and
            copies("rules", "/usr/share/c2watch/rules") and
            copies("deploy/c2watch.yaml", "/etc/c2watch/c2watch.yaml"))
    users = [a.strip() for _n, ins, a in rt if ins == "USER"]
    c.check("runtime stage runs as a non-root user", bool(users) and
            users[-1].split(":")[0] not in ("root", "0"), ", ".join(users) or "no USER")
    entry = [a.strip() for _n, ins, a in rt if ins == "ENTRYPOINT"]
    c.check('runtime ENTRYPOINT ["c2watch"]', bool(entry) and json.loads(entry[-1]) == ["c2watch"],
            entry[-1] if entry else "none")
    c.check("replayer stage installs kcat", any(ins == "RUN" and re.search(r"\bkcat\b", a)
                                              for _n, ins, a in stages.get("replayer", {"instr": []})["instr"]))
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
