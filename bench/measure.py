#!/usr/bin/env python3
"""measure.py - run commands N times (after one warm-up run) and print wall time and peak RSS.

    measure.py --runs N --label NAME -- CMD ARGS... [--label NAME -- CMD ARGS...]

Used by bench/config-parse.sh inside its namespace. Each run is started with posix_spawn and reaped
with os.wait4(); wall time is perf_counter() around spawn..reap (ms resolution, unlike the 10 ms of
`/usr/bin/time %e`). Peak RSS is wait4's ru_maxrss, which the kernel reports as the maximum of the
child's own peak and that of every descendant it waited for, so forked children are covered
(it is the largest single process, not a sum of processes alive at the same time).
The first command is the reference for the ratio column. Stdout/stderr of the runs go to /dev/null.
"""
import os
import signal
import statistics
import sys
import time

TIMEOUT_S = 120


def run_once(argv):
    devnull = os.open(os.devnull, os.O_RDWR)
    fa = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
          (os.POSIX_SPAWN_DUP2, devnull, 2)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=fa)
    os.close(devnull)
    while True:
        wpid, status, ru = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            break
        if time.perf_counter() - t0 > TIMEOUT_S:
            os.kill(pid, signal.SIGKILL)  # by PID, the one we spawned
            wpid, status, ru = os.wait4(pid, 0)
            break
        time.sleep(0.0005)
    wall_ms = (time.perf_counter() - t0) * 1000.0
    return os.waitstatus_to_exitcode(status), wall_ms, ru.ru_maxrss  # ru_maxrss: KiB


def main():
    args = sys.argv[1:]
    runs = 10
    jobs = []
    while args:
        a = args.pop(0)
        if a == "--runs":
            runs = int(args.pop(0))
        elif a == "--label":
            label = args.pop(0)
            if args.pop(0) != "--":
                sys.exit("measure: expected -- after --label NAME")
            cmd = []
            while args and args[0] != "--label":
                cmd.append(args.pop(0))
            jobs.append((label, cmd))
        else:
            sys.exit(f"measure: unexpected argument {a!r}")
    results = []
    for label, cmd in jobs:
        run_once(cmd)  # warm-up (page cache, dynamic loader), not counted
        codes, walls, rss = set(), [], 0
        for _ in range(runs):
            code, ms, kib = run_once(cmd)
            codes.add(code)
            walls.append(ms)
            rss = max(rss, kib)
        results.append((label, ",".join(map(str, sorted(codes))), statistics.median(walls),
                        min(walls), max(walls), rss / 1024.0))
    hdr = f"{'program':<14} {'exit':>4} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'peak RSS MiB':>13} {'time ratio':>10} {'RSS ratio':>9}"
    print(hdr)
    print("-" * len(hdr))
    ref = results[0]
    for label, codes, med, lo, hi, mib in results:
        print(f"{label:<14} {codes:>4} {med:>10.1f} {lo:>8.1f} {hi:>8.1f} {mib:>13.1f} "
              f"{med / ref[2]:>10.2f} {mib / ref[5]:>9.2f}")
    if len(results) > 1:
        ours = results[-1]
        ok_t = ours[2] <= 0.5 * ref[2]
        ok_m = ours[5] < 50.0
        print(f"\ntarget: median time <= 0.5 x {ref[0]} ... {'met' if ok_t else 'NOT met'} "
              f"({ours[2] / ref[2]:.2f}); peak RSS < 50 MiB ... {'met' if ok_m else 'NOT met'} "
              f"({ours[5]:.1f} MiB)")


if __name__ == "__main__":
    main()
