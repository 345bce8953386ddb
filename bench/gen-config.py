#!/usr/bin/env python3
"""gen-config.py - write a large, realistic keepalived.conf for the `-t` parsing benchmark.

    gen-config.py [--real-servers 10000] [--virtual-servers 200] [--instances 255] [-o FILE]

Defaults: 255 vrrp_instances, 200 virtual servers, 10,000 real servers (spread evenly).
The file is meant for the namespace built by bench/config-parse.sh (lo, eth0 192.168.200.2/24,
eth1 10.0.0.2/24, eth2, ha, mgt) and must make `keepalived -t` exit 0: no scripts (no
vrrp_script, notify or MISC_CHECK), so script security never comes into it.
Output is deterministic (no randomness), so every run parses the same file.
"""
import argparse
import sys


def vrrp_instances(n):
    """n instances; VRIDs are unique per interface (1..255 each), eth0 first then eth1."""
    out = []
    for i in range(n):
        iface, vrid = ("eth0", i + 1) if i < 255 else ("eth1", i - 254)
        if vrid > 255:
            sys.exit("gen-config: at most 510 VRRP instances (255 VRIDs on each of eth0, eth1)")
        a, b = divmod(i, 250)
        state = "MASTER" if i % 2 == 0 else "BACKUP"
        out.append(f"vrrp_instance VI_{i + 1} {{")
        out.append(f"    state {state}")
        out.append(f"    interface {iface}")
        out.append(f"    virtual_router_id {vrid}")
        out.append(f"    priority {150 if state == 'MASTER' else 100}")
        out.append("    advert_int 1")
        if i % 3 == 0:
            # authentication is VRRPv2-only; keep it on instances that say so
            out.append("    version 2")
            out.append("    authentication {")
            out.append("        auth_type PASS")
            out.append(f"        auth_pass p{i % 10000:04d}")
            out.append("    }")
        if i % 4 == 0:
            out.append("    track_interface {")
            out.append("        eth2")
            out.append("        ha weight -20")
            out.append("    }")
        if i % 5 == 0:
            base = "192.168.200" if iface == "eth0" else "10.0.0"
            out.append(f"    unicast_src_ip {base}.2")
            out.append("    unicast_peer {")
            out.append(f"        {base}.3")
            out.append(f"        {base}.4")
            out.append("    }")
        out.append("    virtual_ipaddress {")
        out.append(f"        10.200.{a}.{b + 1}/32 dev {iface}")
        if i % 2 == 1:
            out.append(f"        10.201.{a}.{b + 1}/32 dev {iface} label {iface}:v{i % 1000}")
        out.append("    }")
        out.append("}")
    return out


def real_server(vs, rs, port, http, fwmark):
    ip = f"172.{16 + vs // 250}.{vs % 250}.{rs + 1}"
    # fwmark services have no port: the real server gets none, the checker names one
    head = f"    real_server {ip} {{" if fwmark else f"    real_server {ip} {port} {{"
    out = [head, f"        weight {1 + rs % 5}"]
    if http:
        out += [
            "        HTTP_GET {",
            "            url {",
            "                path /health",
            "                status_code 200",
            "            }",
        ]
        if fwmark:
            out.append(f"            connect_port {port}")
        out += [
            "            connect_timeout 3",
            "            retry 3",
            "            delay_before_retry 2",
            "        }",
        ]
    else:
        out += [
            "        TCP_CHECK {",
            f"            connect_port {port}",
            "            connect_timeout 3",
            "            retry 3",
            "            delay_before_retry 2",
            "        }",
        ]
    out.append("    }")
    return out


def virtual_servers(nvs, nrs):
    out = []
    ngroups = 2 if nvs >= 20 else 0
    nfwmark = 5 if nvs >= 20 else 0
    # two virtual_server_groups, each with two VIP:port entries and a range
    for g in range(ngroups):
        out.append(f"virtual_server_group VSG_{g + 1} {{")
        out.append(f"    10.210.{g}.1 80")
        out.append(f"    10.210.{g}.2 80")
        out.append(f"    10.210.{g}.10-20 80")
        out.append("}")
    per, extra = divmod(nrs, nvs) if nvs else (0, 0)
    algos = ["rr", "wrr", "lc", "wlc", "sh"]
    kinds = ["NAT", "DR", "TUN"]
    for v in range(nvs):
        if v < ngroups:
            head, port = f"virtual_server group VSG_{v + 1}", 80
        elif v < ngroups + nfwmark:
            head, port = f"virtual_server fwmark {v + 1}", 80
        else:
            port = 80 if v % 2 == 0 else 443
            head = f"virtual_server 10.220.{v // 250}.{v % 250 + 1} {port}"
        kind = kinds[v % 3]
        out.append(f"{head} {{")
        out.append("    delay_loop 6")
        out.append(f"    lb_algo {algos[v % len(algos)]}")
        out.append(f"    lb_kind {kind}")
        out.append("    persistence_timeout 50")
        fwmark = ngroups <= v < ngroups + nfwmark
        if not fwmark:
            out.append("    protocol TCP")  # keepalived warns (exit 5) on protocol with fwmark
        n = per + (1 if v < extra else 0)
        for r in range(n):
            out += real_server(v, r, port, http=(r % 5 == 0), fwmark=fwmark)
        out.append("}")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--real-servers", type=int, default=10000)
    p.add_argument("--virtual-servers", type=int, default=200)
    p.add_argument("--instances", type=int, default=255)
    p.add_argument("-o", "--output", default="-")
    a = p.parse_args()
    if a.virtual_servers and a.real_servers // a.virtual_servers > 250:
        p.error("at most 250 real servers per virtual server")
    lines = [
        f"# generated by bench/gen-config.py: {a.instances} vrrp_instances, "
        f"{a.virtual_servers} virtual_servers, {a.real_servers} real_servers",
        "global_defs {",
        "    router_id bench_lb1",
        "    vrrp_version 3",
        "    vrrp_garp_master_delay 5",
        "    vrrp_skip_check_adv_addr",
        "}",
        "",
    ]
    lines += vrrp_instances(a.instances)
    lines.append("")
    lines += virtual_servers(a.virtual_servers, a.real_servers)
    text = "\n".join(lines) + "\n"
    if a.output == "-":
        sys.stdout.write(text)
    else:
        with open(a.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
