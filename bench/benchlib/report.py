"""Tables and charts of a bench/run result (a dict, also kept as JSON):
medians with the spread (min-max over rounds), ratios postern/peer,
and PNG charts drawn with gnuplot."""
import statistics
import subprocess

TITLES = {
    "S1": "S1 new connection per message, AUTH PLAIN, 2 KB, 32 clients, clear text",
    "S2": "S2 = S1 over STARTTLS",
    "S3": "S3 50 messages per connection, 16 clients, clear text",
    "S3T": "S3T = S3 over STARTTLS",
    "S5": "S5 SCRAM-SHA-256 logins/s over STARTTLS, 16 clients",
}


def summary(runs):
    """(median, min, max, errors, note) of one cell's rounds."""
    rates = [r["rate"] for r in runs if r.get("rate") is not None]
    errs = sum(max(r.get("errors", 0), 0) for r in runs)
    note = next((r["note"] for r in runs if r.get("note")), "")
    bad = [r.get("first_error") for r in runs if r.get("errors")]
    if not rates:
        return None, None, None, errs, note
    if bad and bad[0]:
        note = (note + "; " if note else "") + f"errors: {bad[0][:60]}"
    return statistics.median(rates), min(rates), max(rates), errs, note


def cell(runs):
    med, lo, hi, errs, note = summary(runs)
    if med is None:
        return note or "-"
    txt = f"{med:,.0f}/s ({lo:,.0f}-{hi:,.0f})".replace(",", " ")
    if errs:
        txt += f" **{errs} errors**"
    return txt + (f" ({note})" if note else "")


def table(res):
    servers = res["servers"]
    head = "| scenario | " + " | ".join(servers) + " | " + \
        " | ".join(f"postern/{s}" for s in servers if s != "postern") + " |"
    out = [head, "|" + "---|" * (1 + len(servers) + len(servers) - 1)]
    for scen, per in res["rounds"].items():
        meds = {s: summary(per.get(s, []))[0] for s in servers}
        row = [TITLES.get(scen, scen)] + [cell(per.get(s, [])) for s in servers]
        for s in servers:
            if s == "postern":
                continue
            p, q = meds.get("postern"), meds.get(s)
            row.append(f"{p / q:.2f}" if p and q else "-")
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def _med(runs, key):
    v = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(v) if v else None


def cpu_table(res):
    """Per cell: CPU ms per message (per login in S5) of the server, all
    its processes, and of the load generator, medians over the rounds,
    and how many CPUs each kept busy (rate x ms): a side near 1.0 with
    one process (the load generator runs one thread, -j 1) is the limit."""
    out = ["| scenario | server | rate | server CPU ms/msg | client CPU ms/msg | "
           "CPUs busy: server + client |", "|---|---|---|---|---|---|"]
    for scen, per in res["rounds"].items():
        for s in res["servers"]:
            runs = per.get(s, [])
            rate = summary(runs)[0]
            sv, cl = _med(runs, "server_cpu_ms"), _med(runs, "client_cpu_ms")
            if rate is None or sv is None or cl is None:
                continue
            out.append(f"| {scen} | {s} | {rate:,.0f}/s | {sv:.2f} | {cl:.2f} | "
                       f"{rate * sv / 1000:.2f} + {rate * cl / 1000:.2f} |".replace(",", " "))
    return "\n".join(out)


def threads_table(res):
    """The load generator with -j 1 and -j 2 threads, same run, interleaved."""
    th = res.get("threads", {})
    if not th:
        return ""
    js = sorted({j for per in th.values() for pts in per.values() for j in pts}, key=int)
    out = ["| scenario | server | " + " | ".join(f"-j {j}: rate (client CPU ms/msg)" for j in js)
           + " |", "|---|---|" + "---|" * len(js)]
    for scen, per in th.items():
        for s, pts in per.items():
            cells = []
            for j in js:
                runs = pts.get(j, [])
                med = summary(runs)[0]
                cl = _med(runs, "client_cpu_ms")
                errs = sum(max(r.get("errors", 0), 0) for r in runs)
                cells.append("-" if med is None else
                             f"{med:,.0f}/s ({cl:.3f})".replace(",", " ")
                             + (f" **{errs} errors**" if errs else ""))
            out.append(f"| {scen} | {s} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def dns_table(res):
    out = ["| server | sessions traced | DNS queries (connect/sendto to port 53) |",
           "|---|---|---|"]
    for s, d in res.get("dns", {}).items():
        if d is None:
            out.append(f"| {s} | - | not measured |")
            continue
        q = f"{d['queries']}" + (f": `{d['first']}`" if d["queries"] else "")
        out.append(f"| {s} | {d['sessions']} | {q} |")
    return "\n".join(out)


def memory_table(res):
    out = ["| server | sessions | established | processes | PSS before -> after | "
           "PSS per session | RSS per session |", "|---|---|---|---|---|---|---|"]
    for s, levels in res.get("memory", {}).items():
        for m in levels:
            if "skipped" in m:
                out.append(f"| {s} | {m['sessions']} | - | - | - | {m['skipped']} | - |")
                continue
            pps = m["pss_per_session_kb"]
            rps = m["rss_per_session_kb"]
            out.append(f"| {s} | {m['sessions']} | {m['established']} (errors {m['errors']}) | "
                       f"{m['processes']} | {m['pss_kb'][0] / 1024:.0f} MB -> "
                       f"{m['pss_kb'][1] / 1024:.0f} MB | "
                       f"{pps:.1f} KB | {rps:.1f} KB |" if pps is not None else
                       f"| {s} | {m['sessions']} | {m['established']} | - | - | - | - |")
    return "\n".join(out)


def fsync_table(res, durable):
    out = ["| server | how a message is durable before the 250 | fsync-like calls per message "
           "(strace -f -c, S3 shape) |", "|---|---|---|"]
    for s, f in res.get("fsync", {}).items():
        if f is None:
            txt = "not measured"
        else:
            per = f["per_message"]
            txt = (f"{per:.2f} ({f['messages']} messages; {f['calls']})" if per is not None
                   else f"no messages ({f})")
        out.append(f"| {s} | {durable.get(s, '')} | {txt} |")
    return "\n".join(out)


def curve_table(res):
    out = []
    for scen, per in res.get("curves", {}).items():
        clients = sorted({c for pts in per.values() for c in pts})
        out.append(f"\n{scen} messages/s by clients:\n")
        out.append("| server | " + " | ".join(str(c) for c in clients) + " |")
        out.append("|---|" + "---|" * len(clients))
        for s, pts in per.items():
            out.append(f"| {s} | " + " | ".join(
                (f"{pts[c]['rate']:.0f}" + ("*" if pts[c].get("errors") else ""))
                if c in pts and pts[c].get("rate") is not None else "-"
                for c in clients) + " |")
    return "\n".join(out)


def charts(res, outdir):
    """bench/charts/{S1,S3}-scaling.png and S4-memory.png (gnuplot)."""
    outdir.mkdir(parents=True, exist_ok=True)
    made = []
    for scen, per in res.get("curves", {}).items():
        png = outdir / f"{scen}-scaling.png"
        if _plot(outdir / f"{scen}-scaling", png,
                 {s: [(c, p["rate"]) for c, p in sorted(pts.items()) if p.get("rate")]
                  for s, pts in per.items()},
                 f"{scen}: messages/s by concurrent clients", "clients (log scale)",
                 "messages/s", logx=True):
            made.append(png)
    mem = {s: [(m["sessions"], m["pss_kb"][1] / 1024) for m in lv if "pss_kb" in m]
           for s, lv in res.get("memory", {}).items()}
    png = outdir / "S4-memory.png"
    if _plot(outdir / "S4-memory", png, mem, "S4: server memory (PSS, all processes) with N idle "
             "STARTTLS+AUTH sessions", "idle sessions", "MB", logx=False):
        made.append(png)
    return made


def _plot(stem, png, series, title, xl, yl, logx):
    series = {k: v for k, v in series.items() if v}
    if not series:
        return False
    plots = []
    for name, pts in series.items():
        dat = stem.with_name(f"{stem.name}-{name}.dat")
        dat.write_text("".join(f"{x} {y}\n" for x, y in pts))
        plots.append(f"'{dat}' using 1:2 with linespoints title '{name}'")
    script = (f"set terminal pngcairo size 800,480\nset output '{png}'\n"
              f"set title \"{title}\"\nset xlabel '{xl}'\nset ylabel '{yl}'\nset grid\n"
              f"set key top left\n" + ("set logscale x 2\n" if logx else "") +
              "plot " + ", ".join(plots) + "\n")
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    for dat in stem.parent.glob(f"{stem.name}-*.dat"):
        dat.unlink()
    return r.returncode == 0 and png.exists()
