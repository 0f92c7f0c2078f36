//! The report's stylesheet, inlined into the page. System fonts only, so nothing is fetched.

/// Inline CSS for screen and print.
pub(crate) const CSS: &str = r#"
:root { --ink: #222; --muted: #5f6368; --line: #d9dde3; --soft: #f5f7fa; --accent: #0072B2; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif;
  font-size: 15px; line-height: 1.5; }
.page { max-width: 1160px; margin: 0 auto; padding: 28px 32px 48px; }
header.report-head { border-bottom: 3px solid var(--accent); padding-bottom: 14px; margin-bottom: 18px; }
header.report-head h1 { margin: 0 0 4px; font-size: 28px; font-weight: 650; letter-spacing: -0.01em; }
header.report-head .meta { margin: 0; color: var(--muted); }
nav.toc { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; margin-bottom: 26px; }
nav.toc h2 { font-size: 13px; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); margin: 0 0 4px; border: 0; padding: 0; }
nav.toc ol { margin: 0; padding-left: 20px; columns: 3; column-gap: 28px; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
section.report-section { margin: 0 0 40px; }
h2 { font-size: 22px; font-weight: 650; margin: 0 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 17px; font-weight: 620; margin: 26px 0 8px; }
h4 { font-size: 15px; font-weight: 620; margin: 18px 0 6px; }
p { margin: 6px 0 10px; }
.howto { background: #eef5fb; border-left: 4px solid var(--accent); border-radius: 0 6px 6px 0; padding: 8px 14px; margin: 8px 0 16px; color: #29323c; font-size: 14px; }
.howto strong { color: var(--accent); }
.notes { background: #fff6e5; border-left: 4px solid #E69F00; border-radius: 0 6px 6px 0; padding: 8px 14px 8px 30px; margin: 10px 0; }
.summary { color: var(--muted); }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
pre.command { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; white-space: pre-wrap; word-break: break-all; }
.hash { word-break: break-all; color: #444; }
figure { margin: 10px 0 18px; padding: 0; break-inside: avoid; page-break-inside: avoid; }
figure svg { display: block; max-width: 100%; height: auto; }
svg text { font-family: inherit; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 8px 24px; align-items: start; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 10px; text-align: left; vertical-align: top; border-bottom: 1px solid #eceff3; white-space: nowrap; }
td.wrap { white-space: normal; min-width: 14em; }
th { background: var(--soft); font-weight: 620; border-bottom: 1px solid var(--line); white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
tbody tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.table-foot { font-size: 12.5px; color: var(--muted); margin: 4px 0 16px; }
a.download { color: var(--accent); font-weight: 600; text-decoration: none; }
a.download::before { content: "\2193\00a0"; }
a.download:hover { text-decoration: underline; }
.badge { display: inline-block; min-width: 3.2em; text-align: center; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 650; text-transform: uppercase; letter-spacing: 0.03em; }
.badge.pass { background: #d8f0e7; color: #00603f; }
.badge.warn { background: #fdebc8; color: #7a4d00; }
.badge.fail { background: #f9d9c8; color: #8f3100; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; }
.flag { color: #8f3100; font-weight: 650; }
ol.refs { padding-left: 26px; font-size: 14px; }
ol.refs li { margin-bottom: 4px; }
.cite { color: var(--muted); white-space: nowrap; }
footer { margin-top: 40px; padding-top: 10px; border-top: 1px solid var(--line); color: var(--muted); font-size: 12.5px; }
@media (max-width: 720px) { nav.toc ol { columns: 1; } .page { padding: 16px; } }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10.5pt; }
  .page { max-width: none; padding: 0; }
  nav.toc { display: none; }
  section.report-section { break-before: page; page-break-before: always; margin: 0; }
  section.report-section:first-of-type { break-before: auto; page-break-before: auto; }
  h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  .grid { display: block; }
  .table-wrap { overflow: visible; border: 0; }
  table { font-size: 8.5pt; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  a.download { display: none; }
  .howto, .notes, .badge, .swatch, th, tbody tr:nth-child(even) { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;
