#!/usr/bin/env python3
"""Writes seed inputs for the fuzz targets, from the test fixtures and a few hand-made inputs.

    python3 Fuzz/make-seeds.py DIR            # DIR/<target>/seed-…, one directory per target
    scripts/fuzz --build-only
    for t in $(scripts/fuzz --list); do .build-fuzz/bin/$t -merge=1 Fuzz/corpus/$t DIR/$t; done

The merge keeps only the seeds that reach coverage the committed corpus does not, so the
committed corpus (Fuzz/corpus/) stays small; it is how the corpus was first made.
"""
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "Tests/FlowSpecFormatsTests/Fixtures"
MARKER = b"\xff" * 16


def message(type_, body):
    return MARKER + (19 + len(body)).to_bytes(2, "big") + bytes([type_]) + body


def attribute(flags, code, value):
    if len(value) > 255 or flags & 0x10:
        return bytes([flags | 0x10, code]) + len(value).to_bytes(2, "big") + value
    return bytes([flags, code, len(value)]) + value


def update_body(attrs, withdrawn=b"", nlri=b""):
    a = b"".join(attrs)
    return len(withdrawn).to_bytes(2, "big") + withdrawn + len(a).to_bytes(2, "big") + a + nlri


def captured_messages():
    out = []
    for f in sorted((FIX / "pcap").glob("*.jsonl")) + [FIX / "json/bird-wire-updates.jsonl"]:
        for line in f.read_text().splitlines():
            if line.strip():
                out.append(bytes.fromhex(json.loads(line)["hex"]))
    return list(dict.fromkeys(out))  # unique, in order


def nlri_runs(msg):
    """The NLRI runs of the MP_REACH/MP_UNREACH attributes of an UPDATE, with their AFI."""
    body = msg[19:]
    w = int.from_bytes(body[0:2], "big")
    a = int.from_bytes(body[2 + w:4 + w], "big")
    attrs, i, runs = body[4 + w:4 + w + a], 0, []
    while i + 3 <= len(attrs):
        flags, code = attrs[i], attrs[i + 1]
        if flags & 0x10:
            n, v = int.from_bytes(attrs[i + 2:i + 4], "big"), i + 4
        else:
            n, v = attrs[i + 2], i + 3
        value = attrs[v:v + n]
        i = v + n
        if code == 14 and len(value) >= 5:
            runs.append((int.from_bytes(value[0:2], "big"), value[5 + value[3]:]))
        elif code == 15 and len(value) >= 3:
            runs.append((int.from_bytes(value[0:2], "big"), value[3:]))
    return runs


def split_nlris(run):
    out, i = [], 0
    while i < len(run):
        n, h = run[i], 1
        if n >= 0xF0:
            n, h = (n & 0x0F) << 8 | run[i + 1], 2
        out.append(run[i:i + h + n])
        i += h + n
    return out


def chunks(items, n):
    return [items[i:i + n] for i in range(0, len(items), n)]


def frr_arrays(text):
    """FRR's detail stream split into its arrays (each starts with '[' at a line start)."""
    out, cur = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("[") and cur:
            out.append("".join(cur))
            cur = []
        cur.append(line)
    if cur:
        out.append("".join(cur))
    return [a for a in out if a.strip()]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    dest = Path(sys.argv[1])
    seeds = {}

    def add(target, name, data):
        if isinstance(data, str):
            data = data.encode()
        seeds.setdefault(target, {})[name] = data

    # -- binary: BGP messages, UPDATE bodies, NLRI runs
    msgs = captured_messages()
    for k, m in enumerate(msgs):
        add("fuzz-bgp-message", f"capture-{k:03}", m)
        if m[18] == 2:
            add("fuzz-update", f"capture-{k:03}", m[19:])
            for j, (afi, run) in enumerate(nlri_runs(m)):
                add("fuzz-nlri", f"capture-{k:03}-{j}-afi{afi}", run)
                # Single NLRIs too, and the wide (0xfnnn) length form of the first one.
                nl = split_nlris(run)
                if nl:
                    first = nl[0]
                    body = first[1:] if first[0] < 0xF0 else first[2:]
                    add("fuzz-nlri", f"capture-{k:03}-{j}-wide", bytes([0xF0 | len(body) >> 8, len(body) & 0xFF]) + body)
    eor4 = update_body([attribute(0x90, 15, bytes.fromhex("000185"))])
    eor6 = update_body([attribute(0x80, 15, bytes.fromhex("000285"))])
    # 2001:db8::/32, source ::1/128 offset 64, next-header 17, port 53, fragment, flow label 5.
    ipv6 = bytes.fromhex("01200020010db8" "02804000000000000000" "038111" "058135" "0c8102" "0da100000005")
    announce6 = update_body([
        attribute(0x40, 1, b"\x00"),
        attribute(0x40, 2, bytes.fromhex("020100000001")),
        attribute(0x90, 14, bytes.fromhex("00028500") + b"\x00" + bytes([len(ipv6)]) + ipv6),
        attribute(0xC0, 16, bytes.fromhex("8006000000000000")),
        attribute(0xC0, 32, bytes(range(12))),
        attribute(0xC0, 25, bytes(20)),
    ])
    # Attribute 25 (RFC 5701) with a redirect to an IPv6 next hop (0x000c, copy bit clear) and an
    # rt-redirect-ipv6 (0x000d, RFC 8956 §6.1) to [2001:db8::2]:100, then FRR's 0x800d.
    ipv6_ecs = (bytes.fromhex("000c") + bytes.fromhex("20010db8000000000000000000000001") + bytes.fromhex("0000")
                + bytes.fromhex("000d") + bytes.fromhex("20010db8000000000000000000000002") + bytes.fromhex("0064")
                + bytes.fromhex("800d") + bytes.fromhex("20010db8000000000000000000000003") + bytes.fromhex("0001"))
    # 2001:db8:113::53/128, next-header 17.
    host6 = bytes.fromhex("018000" "20010db8011300000000000000000053" "038111")
    redirect6 = update_body([
        attribute(0x40, 1, b"\x00"),
        attribute(0x40, 2, bytes.fromhex("020100000001")),
        attribute(0x90, 14, bytes.fromhex("00028500") + b"\x00" + bytes([len(host6)]) + host6),
        attribute(0xC0, 25, ipv6_ecs),
    ])
    hand = {
        "redirect-ipv6": message(2, redirect6),
        "keepalive": message(4, b""),
        "notification": message(3, bytes.fromhex("0602")),
        "route-refresh": message(5, bytes.fromhex("00018500")),
        "eor-ipv4": message(2, eor4),
        "eor-ipv6": message(2, eor6),
        "announce-ipv6": message(2, announce6),
        "empty-update": message(2, bytes(4)),
    }
    for name, m in hand.items():
        add("fuzz-bgp-message", name, m)
        if m[18] == 2:
            add("fuzz-update", name, m[19:])
    add("fuzz-nlri", "ipv6-offset", bytes([len(ipv6)]) + ipv6)
    add("fuzz-nlri", "v4-01", bytes.fromhex("0c0120cb00710a038106058150"))
    add("fuzz-nlri", "v4-41", bytes.fromhex("0f0120cb0071610381060591138806800000"))
    # Every IPv4 component once: prefixes, numeric terms of 1 and 2 octets with AND, bitmasks.
    body = bytes.fromhex("0118c00002" "02100a00" "038106" "04015091 01bb" "058135" "068300" "078108"
                         "088100" "098102" "0a130028d505dc" "0b812e" "0c8101".replace(" ", ""))
    add("fuzz-nlri", "all-components", bytes([len(body)]) + body)

    # -- hex text: BGP messages and NLRI runs
    updates = [m for m in msgs if m[18] == 2]
    for k, group in enumerate(chunks(msgs, 6)[:12]):
        lines = [m.hex() for m in group]
        if k % 3 == 1:
            lines = [":".join(l[i:i + 2] for i in range(0, len(l), 2)) for l in lines]
        elif k % 3 == 2:
            lines = ["0x" + " ".join(l[i:i + 8] for i in range(0, len(l), 8)) for l in lines]
        add("fuzz-bgp-hex", f"capture-{k:02}", f"# capture group {k}\n" + "\n".join(lines) + "\n")
    add("fuzz-bgp-hex", "redirect-ipv6", hand["redirect-ipv6"].hex() + "\n")
    add("fuzz-bgp-hex", "eor-and-keepalive", "\n".join(m.hex() for m in [hand["eor-ipv4"], hand["keepalive"], hand["announce-ipv6"]]))
    runs4 = [r for m in updates for (afi, r) in nlri_runs(m) if afi == 1 and r]
    runs6 = [r for m in updates for (afi, r) in nlri_runs(m) if afi == 2 and r]
    nlris4 = [n for r in runs4 for n in split_nlris(r)]
    for k, group in enumerate(chunks(nlris4, 8)[:10]):
        add("fuzz-nlri-hex", f"ipv4-{k:02}", "# ipv4 NLRIs\n" + "\n".join(n.hex() for n in group) + "\n")
    for k, r in enumerate(runs6[:6]):
        add("fuzz-nlri-hex", f"ipv6-{k:02}", r.hex() + "\n")
    add("fuzz-nlri-hex", "doc", "# v4-01 and v4-41, one line\n0c0120cb00710a038106058150 0f0120cb0071610381060591138806800000\n")

    # -- BMP streams (fuzz-bmp: the first octet picks the read size): route monitoring messages
    # around captured UPDATEs, as Loc-RIB and as a global peer, with initiation and statistics.
    def bmp(type_, body):
        return bytes([3]) + (6 + len(body)).to_bytes(4, "big") + bytes([type_]) + body

    def peer(type_=3, flags=0):
        return (bytes([type_, flags]) + bytes(8) + bytes(12) + bytes([192, 0, 2, 1])
                + (65105).to_bytes(4, "big") + bytes([192, 0, 2, 2]) + bytes(8))

    initiation = bmp(4, (2).to_bytes(2, "big") + (5).to_bytes(2, "big") + b"gobgp")
    for k, group in enumerate(chunks(updates, 4)[:8]):
        stream = initiation + b"".join(bmp(0, peer(3 if k % 2 == 0 else 0, 0x20 * (k % 4 == 1)) + m) for m in group)
        add("fuzz-bmp", f"capture-{k:02}", bytes([k * 37 % 256]) + stream)
    add("fuzz-bmp", "framing", bytes([0]) + initiation + bmp(1, peer(0) + bytes(4)) + bmp(3, peer(0, 0x80))
        + bmp(0, peer() + hand["eor-ipv4"]) + bmp(6, b"") + bmp(5, bytes.fromhex("000000020000")))

    # -- canonical JSON
    doc = json.loads((FIX / "json/default-routes.json").read_text())
    routes = doc["routes"]
    for k, group in enumerate(chunks(routes, 4)):
        add("fuzz-json", f"default-routes-{k:02}", json.dumps({"routes": group}, indent=None))
    add("fuzz-json", "redirect-ipv6", json.dumps({"routes": [
        {"family": "ipv6", "match": {"destination": "2001:db8:113::53/128", "protocol": "==17"},
         "actions": [{"redirect-to-ip": {"address": "2001:db8:2::10", "copy": False}}]},
        {"family": "ipv6", "match": {"destination": "2001:db8:113::/64"},
         "actions": [{"rt-redirect-ipv6": {"address": "2001:db8::1", "local": 100}},
                     {"ipv6-community": "0x800d20010db80000000000000000000000010064"}, {"traffic-rate-bytes": 0}]},
        {"family": "ipv4", "match": {"destination": "203.0.113.96/32"}, "actions": [{"redirect-to-ip": "192.0.2.1"}],
         "comment": "scrubbing: redirect"},
    ]}))
    add("fuzz-json", "bare-array", json.dumps(routes[:3]))
    add("fuzz-json", "one-route", json.dumps(routes[0], indent=2))
    add("fuzz-json", "empty", '{"routes":[]}')
    add("fuzz-json", "hand-terms", json.dumps({"routes": [
        {"family": "ipv6", "match": {"destination": "2001:db8::/32", "source": "::1/128/64",
                                     "next-header": [{"op": ">=", "value": 6}, {"and": True, "op": "<=", "value": 17}],
                                     "destination-port": "0x50..0x1bb", "tcp-flags": "syn&!ack", "fragment": "first-fragment",
                                     "flow-label": ">0", "dscp": "==46"},
         "actions": [{"redirect": "65000:100"}, {"traffic-marking": 10}], "withdrawn": True},
        {"family": "ipv4", "match": {"packet-length": ">=40&<=1500", "icmp-type": "==8", "icmp-code": "==0"},
         "actions": [{"traffic-action": {"sample": True, "terminal": False}}]},
    ]}))

    # -- FRR detail json (per route arrays) and the summary
    for f in ["frr-8.4/ipv4-flowspec-detail.json", "frr-8.4/ipv6-flowspec-detail.json",
              "exabgp-reject/frr-8.4/ipv4-flowspec-detail.json"]:
        arrays = frr_arrays((FIX / f).read_text())
        tag = f.replace("/", "-").replace(".json", "")
        for k, group in enumerate(chunks(arrays, 4)):
            add("fuzz-frr", f"{tag}-{k:02}", "".join(group))
    summary = {"routerId": "192.0.2.2", "as": 65101, "tableVersion": 10009, "peers": {
        "192.0.2.1": {"remoteAs": 65309, "peerUptimeMsec": 58000, "pfxRcd": 10009, "state": "Established",
                      "connectionsEstablished": 1},
        "192.0.2.3": {"state": "Active", "pfxRcd": 0}}}
    add("fuzz-frr", "summary", json.dumps(summary, indent=2))
    add("fuzz-frr", "summary-wrapped", json.dumps({"ipv4Flowspec": summary}))

    # -- GoBGP dumps (a few keys each) and monitor lines
    for f in ["gobgp-3.10/ipv4-flowspec.json", "gobgp-3.10/ipv6-flowspec.json"]:
        dump = json.loads((FIX / f).read_text())
        items = list(dump.items())
        tag = f.split("/")[1].replace(".json", "")
        for k, group in enumerate(chunks(items, 1)[:8]):
            add("fuzz-gobgp", f"{tag}-{k:02}", json.dumps(dict(group), separators=(",", ":")) + "\n")
        paths = [p for _, ps in items[:3] for p in ps][:2]
        lines = []
        for j, p in enumerate(paths):
            p = dict(p)
            if j % 2:
                p["withdrawal"] = True
            lines.append(json.dumps([p], separators=(",", ":")))
        add("fuzz-gobgp", f"{tag}-monitor", "\n".join(lines) + "\n")
    # Attribute 25 as GoBGP prints it (IPv6AddressSpecificExtended: the address, `:`, the local part;
    # an unknown one as the 19 octets after the type in base64).
    path = {"nlri": {"value": [{"type": 1, "value": {"prefix": "2001:db8:113::53/128"}, "offset": 0},
                               {"type": 3, "value": [{"op": 129, "value": 17}]}]},
            "age": 1795727771, "best": True,
            "attrs": [{"type": 1, "value": 0}, {"type": 2, "as_paths": [{"segment_type": 2, "num": 1, "asns": [65309]}]},
                      {"type": 25, "value": [{"type": 0, "subtype": 12, "value": "2001:db8:2::10:0"},
                                             {"type": 0, "subtype": 13, "value": "2001:db8::1:100"},
                                             {"type": 128, "subtype": 11, "value": "2001:db8::3:1"},
                                             {"type": 64, "subtype": 2, "value": "AgAAAAAAAAAAAAAAAAAAAAAAAA=="}]},
                      {"type": 14, "nexthop": "::", "afi": 2, "safi": 133, "value": []}],
            "stale": False, "source-id": "192.0.2.1", "neighbor-ip": "192.0.2.5"}
    add("fuzz-gobgp", "redirect-ipv6", json.dumps({"[destination: 2001:db8:113::53/128/0][protocol: ==udp]": [path]},
                                                  separators=(",", ":")) + "\n")
    add("fuzz-gobgp", "redirect-ipv6-monitor", json.dumps([path], separators=(",", ":")) + "\n")
    add("fuzz-gobgp", "empty", "{}\n")

    # -- ExaBGP API stream lines
    exa = [l for l in (FIX / "exabgp-4.2/updates.jsonl").read_text().splitlines() if l.strip()]
    exa += [l for l in (FIX / "frr-reject/exabgp-4.2/updates.jsonl").read_text().splitlines() if l.strip()]
    for k, l in enumerate(exa):
        add("fuzz-exabgp", f"line-{k:02}", l + "\n")
    add("fuzz-exabgp", "stream", "\n".join(exa[:3]) + "\n")
    # extended-community-ipv6 (attribute 25): each community a 160-bit integer.
    ec6 = [int.from_bytes(ipv6_ecs[i:i + 20], "big") for i in range(0, len(ipv6_ecs), 20)]
    add("fuzz-exabgp", "redirect-ipv6", json.dumps({
        "exabgp": "4.0.1", "type": "update",
        "neighbor": {"address": {"local": "192.0.2.10", "peer": "192.0.2.9"}, "direction": "receive",
                     "message": {"update": {
                         "attribute": {"origin": "igp", "extended-community-ipv6": [{"value": v, "string": "redirect"} for v in ec6]},
                         "announce": {"ipv6 flow": {"no-nexthop": [{"destination-ipv6": ["2001:db8:113::53/128/0"],
                                                                   "next-header": ["=udp"]}]}}}}}}) + "\n")
    add("fuzz-exabgp", "state", '{"exabgp":"4.0.1","type":"state","neighbor":{"address":{"peer":"192.0.2.9"},"state":"up"}}\n')
    add("fuzz-exabgp", "eor", '{"exabgp":"4.0.1","type":"update","neighbor":{"message":{"eor":{"afi":"ipv6","safi":"flow"}}}}\n')

    for target, files in seeds.items():
        d = dest / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (d / f"seed-{name}").write_bytes(data)
        print(f"{target}: {len(files)} seeds, {sum(map(len, files.values()))} octets")


if __name__ == "__main__":
    main()
