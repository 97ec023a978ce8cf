"""The CSS and the few lines of JavaScript every report page shares (inline: a page is one file)."""

STYLE = """
body{font-family:system-ui,sans-serif;margin:1em 1.5em;background:#fafafa;color:#222}
h2{margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:3px 8px;vertical-align:top}
th{background:#eee}table.sortable th{cursor:pointer}td.num{text-align:right}.ok{background:#dfd}.bad{background:#fdd}
.part{background:#ffe9b0}tr.k2{font-weight:bold}tr:target{outline:3px solid #1E93FF}
.none{color:#999}img{image-rendering:pixelated;display:block}
#facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;background:#fff;border:1px solid #ccc;
 padding:8px 12px;margin:0;max-width:1280px;font-size:14px}#facts dt{font-weight:bold;color:#444}#facts dd{margin:0}
.charts{display:flex;flex-wrap:wrap;align-items:flex-start;gap:0 12px}
.chart{margin:4px 12px 12px 0;background:#fff}.chart text{font-size:11px}.chart .axis{font-size:12px;fill:#444}
.chart .frame{fill:none;stroke:#bbb}.chart .grid{stroke:#eee}
figure{display:inline-block;vertical-align:top;margin:2px 4px 4px 0;padding:2px}
figcaption{font-size:11px;color:#555;white-space:nowrap;min-height:2.6em}figure.right{outline:2px solid #2a2}
figure.sub figcaption{font-weight:bold}figure.diff{outline:2px solid var(--c,#ccc)}
.pair{display:inline-flex;border-right:1px dashed #ccc;margin-right:6px}
.line{display:flex;flex-wrap:wrap;align-items:flex-start;margin:2px 0}
.line .what{width:6.5em;flex:none;font-size:12px;color:#333}td.tid{font-family:monospace}
#tasks td{padding:2px 5px}#tasks td.grids{background:#fff}#tasks td.why{max-width:7em;font-size:13px}
span.why{border-left:5px solid var(--c);padding-left:3px}
tr.compact figcaption{min-height:1.3em}details.demos summary{font-size:12px;color:#333;cursor:pointer}.tile .pairs{display:flex;gap:3px;align-items:flex-start}
.mark{display:inline-block;font-size:10px;padding:0 4px;margin:1px;border-radius:3px;color:#fff}
.m-fallback{background:#c30}.m-budget{background:#a60}.m-low{background:#888}.m-rankloss{background:#70c}
.filters button{margin:0 4px 6px 0}.filters button.on{background:#333;color:#fff}
.cats button{border-left:6px solid var(--c,#ccc)}
.c-exact{--c:#2ECC40}.c-near{--c:#E6B800}.c-shape{--c:#FF851B}.c-wrongshape{--c:#FF4136}.c-background{--c:#AAAAAA}
.c-copy{--c:#B10DC9}.c-novalid{--c:#222}.c-unknown{--c:#ccc}
.gallery{display:flex;flex-wrap:wrap;gap:6px}
.tile{width:96px;padding:3px;background:#fff;border:1px solid #ddd;border-top:5px solid var(--c,#ccc);
 text-decoration:none;color:#222;font-size:11px;display:flex;flex-direction:column;align-items:center}
.tile .tid{font-family:monospace;margin-top:2px}.tile .cap{color:#666;text-align:center;line-height:1.15}
"""
SORT_JS = """
document.querySelectorAll('table.sortable th').forEach((th,i)=>th.addEventListener('click',()=>{
 const tb=th.closest('table').tBodies[0];const rows=[...tb.rows];const asc=th.dataset.asc!=='1';
 th.dataset.asc=asc?'1':'0';const key=r=>{const c=r.cells[i];const v=c.dataset.v??c.textContent;
 const n=parseFloat(v);return isNaN(n)?v:n};
 rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>tb.appendChild(r))}));
"""
# One filter (a tag: solved, partial, cat-near ...) and one search text, applied to the task rows and the
# gallery's tiles alike; following a link to a hidden task clears both.
FILTER_JS = """
const view={f:'all',q:''};
function applyView(){let n=0,g=0;document.querySelectorAll('#tasks tbody tr, .gallery .tile').forEach(el=>{
 const show=(view.f==='all'||el.dataset.tags.split(' ').includes(view.f))&&(!view.q||el.dataset.id.includes(view.q));
 el.style.display=show?'':'none';if(el.tagName==='TR')n+=show;else g+=show});
 document.getElementById('shown').textContent=n;const gs=document.getElementById('gshown');if(gs)gs.textContent=g;
 document.querySelectorAll('.filters button').forEach(o=>o.classList.toggle('on',o.dataset.f===view.f))}
document.querySelectorAll('.filters button').forEach(b=>b.addEventListener('click',()=>{view.f=b.dataset.f;applyView()}));
const search=document.getElementById('search');
if(search)search.addEventListener('input',()=>{view.q=search.value.trim().toLowerCase();applyView()});
function showTarget(){const el=location.hash&&document.getElementById(location.hash.slice(1));
 if(el&&el.style.display==='none'){view.f='all';view.q='';if(search)search.value='';applyView();el.scrollIntoView()}}
window.addEventListener('hashchange',showTarget);showTarget();
"""
