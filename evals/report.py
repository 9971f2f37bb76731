"""report.md and PNG charts for a grounding run (evals.grounding): metric tables first, with the judge's
own accuracy beside the judge-based numbers, then the summary tasks, then every question with its answer,
citations and verdicts and every summary with what verification dropped."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

from evals.metrics import LOWER_IS_BETTER, METRICS, SUMMARY_METRICS  # noqa: E402

JUDGED = ("citation_recall", "citation_precision", "faithfulness")


def write_report(result: dict, out_dir: Path) -> None:
    _metrics_chart(result["modes"], METRICS, "Grounding metrics per mode and split (false_abstention_rate: lower is better)",
                   out_dir / "metrics.png")
    if result["summaries"]["modes"]:
        _metrics_chart(result["summaries"]["modes"], SUMMARY_METRICS, "Summary metrics per mode and split", out_dir / "summaries.png")
    _judge_chart(result["judge"], out_dir / "judge.png")
    (out_dir / "report.md").write_text(render(result), encoding="utf-8")


def _cell(values: dict, name: str) -> str:
    value = values.get(name)
    return f"{value['value']:.2f} ({value['n']})" if value else "–"


def _table(modes: dict, names: tuple[str, ...], *prefixes: str) -> list[str]:
    """One row per (mode, group) for the groups named or starting with one of `prefixes` ("split=")."""
    header = ["mode", "group", *(f"{m}{' (judge)' if m in JUDGED else ''}{' ↓' if m in LOWER_IS_BETTER else ''}" for m in names)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for prefix in prefixes:
        for mode, outcome in modes.items():
            for group, values in outcome.get("metrics", {}).items():
                if group == prefix or (prefix.endswith("=") and group.startswith(prefix)):
                    lines.append(f"| {mode} | {group} | " + " | ".join(_cell(values, m) for m in names) + " |")
    return lines


def _trust(judge: dict) -> str:
    held = judge["heldout"]
    return (f"Judge-based columns are only as good as the judge ({judge['judge']}): on held-out judge pairs "
            f"accuracy {held['accuracy']:.2f}, precision {held['precision']:.2f}, recall {held['recall']:.2f} (n={held['n']}).")


def _judge_section(judge: dict) -> list[str]:
    lines = ["## Judge: how far its verdicts can be trusted", ""]
    if judge.get("threshold") is not None:
        lines.append(f"Threshold {judge['threshold']:.3f} and consistency checks chosen on the tune pairs only "
                     "(the ablation rows show every subset of checks, each at its own best tune threshold).")
    if "unparseable" in judge:
        lines.append(f"Replies with no readable verdict: {judge['unparseable']} (counted as not supported).")
    lines += ["", "| judge | split | n | accuracy | precision | recall | F1 |", "|---|---|---|---|---|---|---|"]
    rows = [(judge["judge"], judge)]
    for row in judge.get("ablation", []):  # every check subset, each with its own tune threshold
        rows.append((f"ablation: similarity{''.join(' + ' + c for c in row['checks'])} (threshold {row['threshold']:.3f})", row))
    for name, scored in rows:
        for split in ("tune", "heldout"):
            s = scored[split]
            lines.append(f"| {name} | {split} | {s['n']} | {s['accuracy']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} |")
    lines += ["", "Per kind of pair (both splits):", "", "| kind | n | accuracy | precision | recall |", "|---|---|---|---|---|"]
    for kind, s in judge["by_kind"].items():
        lines.append(f"| {kind or '–'} | {s['n']} | {s['accuracy']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} |")
    return lines + [""]


def _baseline_section(comparison: dict | None) -> list[str]:
    if comparison is None:
        return ["## Baseline", "", "No baseline compared.", ""]
    lines = ["## Baseline", "", f"Compared with `{comparison['path']}`, tolerance {comparison['tolerance']:.2f} (absolute).", ""]
    for title, rows in (("Regressions (fail)", comparison["regressions"]), ("Improvements", comparison["improvements"])):
        lines.append(f"{title}: {len(rows)}")
        lines += [f"- `{r['metric']}`: {r['baseline']:.3f} → {r['current']:.3f}" for r in rows]
        lines.append("")
    if comparison["not_measured"]:
        lines.append(f"In the baseline but not measured now: {len(comparison['not_measured'])} (e.g. a mode that was skipped).")
    return lines + [""]


def _details(mode: str, outcome: dict) -> list[str]:
    lines = [f"### Mode {mode}", ""]
    if outcome.get("status") != "ok":
        return lines + [outcome.get("status", ""), ""]
    for error in outcome["errors"]:
        lines.append(f"- **{error['id']}** failed: {error['error']}")
    for r in outcome["records"]:
        lines += [f"#### {r['id']} ({r['dataset']}, {r['split']}, {r['language']}, {r['type']})", "", f"**Q:** {r['question']}", ""]
        flag = f" (abstained: {r['abstain_reason']})" if r["abstained"] and r.get("abstain_reason") else " (abstained)" if r["abstained"] else ""
        lines += [f"**A{flag}:** {r['answer']}", ""]
        if r.get("model_output") and r["abstained"]:  # what verification (or the model's NO_ANSWER) turned into an abstention
            lines += [f"*Model wrote:* {' '.join(r['model_output'].split())}", ""]
        for s in r["sentences"]:
            relevant = "".join("✓" if ok else "✗" for ok in s["citation_relevant"]) or "–"
            lines.append(f"- “{s['text']}” {s['citations']}: cited evidence {'supports' if s['supported_by_citations'] else 'does NOT support'} "
                         f"({s['reason']}); citation relevance {relevant}; "
                         f"{'faithful' if s['faithful'] else 'NOT faithful'} to all evidence ({s['faithful_reason']})"
                         + (f"; verifier: {s['verifier_note']}" if s["verifier_note"] else ""))
        for c in r["citations"]:
            lines.append(f"  - [{c['n']}] {c['doc']} ({c['language']}): {c['text']}")
        facts = ", ".join(f"{fid} {'✓' if ok else '✗'}" for fid, ok in r["facts"].items())
        lines.append(f"- facts: {facts or '–'}; gold docs: {', '.join(r['gold_documents']) or '–'}; "
                     f"retrieved: {', '.join(r['retrieved_documents'])}; answer language {r['answer_language']}; "
                     f"{r['timings_ms'].get('total', 0):.0f} ms")
        lines.append("")
    return lines


def _summaries_section(result: dict) -> list[str]:
    """Summary metrics per mode and split, then one row per (task, mode)."""
    summaries = result["summaries"]
    lines = ["## Summaries", ""]
    if not summaries["modes"]:
        return lines + [f"{summaries['tasks']} tasks, no mode run.", ""]
    for mode, outcome in summaries["modes"].items():
        status = (f"{outcome['tasks']} tasks in {outcome['seconds']} s, {len(outcome['errors'])} failed"
                  if outcome.get("status") == "ok" else outcome["status"])
        lines.append(f"- mode **{mode}**: {status}")
    lines += ["", "citation_recall and citation_precision are judge-based (see the judge section); the others are exact.", ""]
    lines += _table(summaries["modes"], SUMMARY_METRICS, "all", "split=")
    lines += ["", "![summary metrics per mode and split](summaries.png)", "",
              "| task | mode | split | lang | fact coverage | doc coverage | facts missed | kept / dropped | agree / differ | s |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for mode, outcome in summaries["modes"].items():
        for r in outcome.get("records", []):
            m = r["metrics"]
            missed = ", ".join(r["missed"]) or "–"
            facts, docs = ("–" if m[k] is None else f"{m[k]:.2f}" for k in ("fact_coverage", "document_coverage"))
            lines.append(f"| {r['id']}{' (abstained)' if r['abstained'] else ''} | {mode} | {r['split']} | {r['language']} | "
                         f"{facts} | {docs} | {missed} | {len(r['sentences'])} / {len(r['dropped'])} | "
                         f"{r['agreements']} / {r['differences']} | {r['timings_ms'].get('total', 0) / 1000:.1f} |")
    return lines + [""]


def _summary_details(mode: str, outcome: dict) -> list[str]:
    lines = [f"### Summaries, mode {mode}", ""]
    for error in outcome.get("errors", []):
        lines.append(f"- **{error['id']}** failed: {error['error']}")
    for r in outcome.get("records", []):
        lines += [f"#### {r['id']} ({r['split']}, {r['language']}): {r['topic']}", "", r["summary"], ""]
        for s in r["sentences"]:
            relevant = "".join("✓" if ok else "✗" for ok in s["citation_relevant"]) or "–"
            lines.append(f"- “{s['text']}” {s['citations']}: cited evidence {'supports' if s['supported_by_citations'] else 'does NOT support'} "
                         f"({s['reason']}); citation relevance {relevant}")
        lines += [f"- dropped by verification ({d['note']}): “{d['text']}”" for d in r["dropped"]]
        lines += [f"  - [{c['n']}] {c['doc']} ({c['language']}): {c['text']}" for c in r["citations"]]
        facts = ", ".join(f"{fid} {'✓' if ok else '✗'}" for fid, ok in r["facts"].items())
        lines += [f"- facts: {facts}; gold docs: {', '.join(r['gold_documents'])}; cited: {', '.join(r['cited_documents']) or '–'}", ""]
    return lines


def render(result: dict) -> str:
    settings = result["settings"]
    lines = [
        f"# Grounding evaluation: suite `{result['suite']}`", "",
        f"{result['seconds']} s; embedder {settings['embedder']}; k={settings['k']}, relevance threshold "
        f"{settings['relevance_threshold']}, support threshold {settings['support_threshold']}; local model "
        f"{settings['local_model']}. Datasets: " + ", ".join(f"{k} {v}" for k, v in result["datasets"].items()) + ".", "",
        "Metric definitions: evals/README.md. Cells are value (number of questions it applies to); ↓ lower is better.", "",
    ]
    for mode, outcome in result["modes"].items():
        if outcome.get("status") != "ok":
            lines.append(f"- mode **{mode}**: {outcome['status']}")
        else:
            style = f" (answer style {outcome['style']})" if outcome.get("style") and mode != "extractive" else ""
            lines.append(f"- mode **{mode}**{style}: {outcome['questions']} questions in {outcome['seconds']} s, {len(outcome['errors'])} failed")
    lines += ["", "## Overall and per split", "", _trust(result["judge"]), ""]
    lines += _table(result["modes"], METRICS, "all", "split=", "dataset=")
    lines += ["", "![metrics per mode and split](metrics.png)", ""]
    for title, prefix in (("Per question language", "language="), ("Per question type", "type=")):
        lines += [f"## {title}", "", _trust(result["judge"]), "", *_table(result["modes"], METRICS, prefix), ""]
    lines += _judge_section(result["judge"]) + ["![judge](judge.png)", ""]
    lines += _baseline_section(result["baseline"])
    lines += _summaries_section(result)
    lines += ["## Per-question details", ""]
    for mode, outcome in result["modes"].items():
        lines += _details(mode, outcome)
    if result["summaries"]["modes"]:
        lines += ["## Per-summary details", ""]
        for mode, outcome in result["summaries"]["modes"].items():
            lines += _summary_details(mode, outcome)
    return "\n".join(lines) + "\n"


def _metrics_chart(modes: dict, names: tuple[str, ...], title: str, path: Path) -> None:
    """One bar per (mode, split) for every metric."""
    series = [(f"{mode} {split}", outcome["metrics"][f"split={split}"]) for mode, outcome in modes.items()
              if outcome.get("status") == "ok" for split in ("tune", "heldout") if f"split={split}" in outcome["metrics"]]
    fig, ax = plt.subplots(figsize=(13, 4.5))
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series):
        xs = [j + i * width for j in range(len(names))]
        ax.bar(xs, [values.get(m, {}).get("value", 0.0) for m in names], width, label=label)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _judge_chart(judge: dict, path: Path) -> None:
    """Judge scores of supported and unsupported pairs with the threshold, and accuracy per kind."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    for label, color in ((True, "tab:green"), (False, "tab:red")):
        left.hist([p["score"] for p in judge["pairs"] if p["supported"] == label], bins=30, alpha=0.6, color=color,
                  label="supported" if label else "not supported")
    if judge.get("threshold") is not None:
        left.axvline(judge["threshold"], color="black", linestyle="--", label=f"threshold {judge['threshold']:.3f}")
    left.set_title(f"{judge['judge']}: scores of judge pairs")
    left.legend(fontsize=8)
    kinds = list(judge["by_kind"])
    right.barh(kinds, [judge["by_kind"][k]["accuracy"] for k in kinds])
    right.set_xlim(0, 1)
    right.set_title("accuracy per kind of pair")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
