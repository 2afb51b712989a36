/**
 * The dashboard's one stylesheet, served as /ui/static/dashboard.css (the CSP allows styles from 'self' only: no
 * inline style anywhere). Kept in a module so the compiled broker carries it without copying files.
 */
export const DASHBOARD_CSS = `
:root { color-scheme: light; --ink: #1d2430; --muted: #5d6776; --line: #d9dee6; --bg: #f6f7f9; --card: #fff;
  --accent: #2f5fb3; --good: #1f7a46; --bad: #b3261e; --warn: #9a6400; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
code, pre, .hash { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
.hash { word-break: break-all; }
a { color: var(--accent); }
nav[aria-label="Views"] { display: flex; align-items: center; gap: 16px; padding: 0 20px; background: #1d2430; color: #fff; min-height: 48px; flex-wrap: wrap; }
nav[aria-label="Views"] .brand { font-weight: 600; margin-right: 12px; }
nav[aria-label="Views"] ul { display: flex; gap: 4px; list-style: none; margin: 0; padding: 0; flex: 1; flex-wrap: wrap; }
nav[aria-label="Views"] a { color: #d7def0; text-decoration: none; padding: 14px 10px; display: inline-block; }
nav[aria-label="Views"] a[aria-current="page"] { color: #fff; box-shadow: inset 0 -3px 0 #7aa2f7; }
.sign-out { display: flex; align-items: center; gap: 10px; }
.sign-out .who { color: #d7def0; }
.sign-out .role, .badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; border: 1px solid currentColor; }
main { padding: 20px; max-width: 1400px; margin: 0 auto; }
main.narrow { max-width: 560px; margin-top: 60px; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 28px; }
h1 { font-size: 22px; margin: 0 0 14px; }
h2 { font-size: 17px; margin: 22px 0 10px; }
h3 { font-size: 15px; margin: 0 0 8px; }
h4 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 10px 0 4px; }
table { border-collapse: collapse; background: var(--card); width: 100%; }
th, td { border: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
thead th { background: #eef1f5; font-weight: 600; }
td.number, td.time { text-align: right; white-space: nowrap; }
td.time { text-align: left; }
.scroll { overflow-x: auto; }
.muted { color: var(--muted); }
.badge.good { color: var(--good); } .badge.bad { color: var(--bad); } .badge.warn { color: var(--warn); } .badge.muted { color: var(--muted); }
.problem { color: var(--bad); background: #fdecea; border: 1px solid #f3c2bd; padding: 10px 12px; border-radius: 6px; }
.notice { background: #e8f0fd; border: 1px solid #c4d5f5; padding: 10px 12px; border-radius: 6px; }
.hint { color: var(--muted); }
form.filters { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: flex-end; background: var(--card); border: 1px solid var(--line); padding: 12px; border-radius: 6px; margin-bottom: 12px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 3px; }
input, select, textarea, button { font: inherit; }
input, select, textarea { border: 1px solid #b8c0cc; border-radius: 4px; padding: 5px 7px; background: #fff; color: var(--ink); }
button { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: 6px 14px; cursor: pointer; }
.sign-out button { background: #3b4656; }
form.sign-in, form.explain { display: flex; flex-direction: column; gap: 8px; }
form.explain { background: var(--card); border: 1px solid var(--line); padding: 14px; border-radius: 6px; max-width: 900px; }
form.explain textarea { width: 100%; }
.links { font-size: 12px; }
a.rule { margin-right: 6px; }
.rule-card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; margin: 0 0 12px; }
.rule-card .columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 14px; }
.rule-card ul { margin: 0; padding-left: 18px; }
.rule-card code { overflow-wrap: anywhere; }
ul.names { max-height: 180px; overflow: auto; }
.findings li.error { color: var(--bad); } .findings li.warning { color: var(--warn); }
table.grid td.granted { color: var(--good); text-align: center; font-weight: 700; background: #e7f5ec; }
table.grid th { white-space: nowrap; }
ul.checks { list-style: none; margin: 0; padding: 0; }
ul.checks li.fail { color: var(--bad); } ul.checks li.ok { color: var(--good); }
tr.granted { background: #f0f9f3; }
details pre { white-space: pre-wrap; word-break: break-all; max-width: 640px; max-height: 360px; overflow: auto; background: #f3f5f8; padding: 8px; }
.pager { display: flex; gap: 16px; align-items: center; margin: 12px 0; }
svg.chart { background: var(--card); border: 1px solid var(--line); border-radius: 6px; max-width: 100%; height: auto; }
svg .axis { stroke: #8a94a3; stroke-width: 1; }
svg .tick, svg .label { fill: var(--muted); font-size: 11px; }
svg .label { fill: var(--ink); }
.bar-allowed { fill: #2e9e5b; } .bar-denied { fill: #d2453b; } .bar-error { fill: #e0a21b; }
.legend .key { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-left: 8px; }
.key-allowed { background: #2e9e5b; } .key-denied { background: #d2453b; } .key-error { background: #e0a21b; }
`;
