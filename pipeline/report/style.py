"""The CSS and the few lines of JavaScript every report page shares (inline: a page is one file)."""

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 8px;vertical-align:top}
th{background:#eee}table.sortable th{cursor:pointer}td.num{text-align:right}.ok{background:#dfd}.bad{background:#fdd}
.none{color:#999}img{image-rendering:pixelated;display:block}
.chart{margin:4px 12px 12px 0;background:#fff}.chart text{font-size:11px}.chart .axis{font-size:12px;fill:#444}
.chart .frame{fill:none;stroke:#bbb}.chart .grid{stroke:#eee}
figure{display:inline-block;vertical-align:top;margin:2px 6px 4px 0;padding:2px}
figcaption{font-size:11px;color:#555;white-space:nowrap;min-height:2.6em}figure.right{outline:2px solid #2a2}
figure.sub figcaption{font-weight:bold}.pair{display:inline-block;border-right:1px dashed #ccc;margin-right:6px}
.line{white-space:nowrap;margin:2px 0}.line .what{display:inline-block;width:9em;white-space:normal;font-size:12px;color:#333;vertical-align:top}
.mark{display:inline-block;font-size:11px;padding:0 4px;margin:1px;border-radius:3px;color:#fff}
.m-fallback{background:#c30}.m-budget{background:#a60}.m-low{background:#888}.m-rankloss{background:#70c}
.filters button{margin:0 4px 6px 0}.filters button.on{background:#333;color:#fff}
"""
SORT_JS = """
document.querySelectorAll('table.sortable th').forEach((th,i)=>th.addEventListener('click',()=>{
 const tb=th.closest('table').tBodies[0];const rows=[...tb.rows];const asc=th.dataset.asc!=='1';
 th.dataset.asc=asc?'1':'0';const key=r=>{const c=r.cells[i];const v=c.dataset.v??c.textContent;
 const n=parseFloat(v);return isNaN(n)?v:n};
 rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});rows.forEach(r=>tb.appendChild(r))}));
"""
FILTER_JS = """
document.querySelectorAll('.filters button').forEach(b=>b.addEventListener('click',()=>{
 document.querySelectorAll('.filters button').forEach(o=>o.classList.toggle('on',o===b));const f=b.dataset.f;
 let n=0;document.querySelectorAll('#tasks tbody tr').forEach(r=>{const show=f==='all'||r.dataset.tags.split(' ').includes(f);
 r.style.display=show?'':'none';n+=show});document.getElementById('shown').textContent=n}));
"""
