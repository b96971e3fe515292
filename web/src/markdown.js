// A small, safe Markdown renderer for the job's README.md: every character of the source is
// HTML-escaped before any markup is added, so the output holds no tag or attribute that the
// renderer did not write. Covers what the README uses (headings, paragraphs, nested bullet and
// numbered lists, bold, italics, code spans and blocks, rules) and plain http(s) links.
import { escapeHtml } from './format.js';

// Inline markup on an already escaped line.
function inline(escaped) {
  const codes = [];
  // Code spans first, so nothing inside them is interpreted.
  let text = escaped.replace(/`([^`]+)`/g, (_, code) => {
    codes.push(`<code>${code}</code>`);
    return `\u0000${codes.length - 1}\u0000`;
  });
  text = text
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^*\w])\*([^*\s][^*]*)\*(?!\w)/g, '$1<em>$2</em>')
    .replace(/(^|[^_\w])_([^_\s][^_]*)_(?!\w)/g, '$1<em>$2</em>')
    // [text](https://...) only: no javascript: or data: URLs. The URL is already escaped.
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g,
      '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>');
  return text.replace(/\u0000(\d+)\u0000/g, (_, i) => codes[Number(i)]);
}

export function renderMarkdown(source) {
  const lines = String(source).replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let paragraph = [];
  // Open lists, innermost last: {type: 'ul'|'ol', indent}.
  const lists = [];

  const flushParagraph = () => {
    if (paragraph.length) out.push(`<p>${inline(paragraph.join(' '))}</p>`);
    paragraph = [];
  };
  const closeLists = (toIndent = -1) => {
    while (lists.length && lists[lists.length - 1].indent > toIndent) {
      out.push(`</li></${lists.pop().type}>`);
    }
  };

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const line = escapeHtml(raw);
    const fence = raw.match(/^\s*```/);
    if (fence) {
      flushParagraph();
      closeLists();
      const code = [];
      while (++i < lines.length && !/^\s*```/.test(lines[i])) code.push(escapeHtml(lines[i]));
      out.push(`<pre><code>${code.join('\n')}</code></pre>`);
      continue;
    }
    if (/^\s*$/.test(raw)) {
      flushParagraph();
      // A blank line inside a list keeps it open only if the list continues after it.
      const next = lines.slice(i + 1).find((l) => !/^\s*$/.test(l));
      if (!next || !/^\s*([-*+]|\d+[.)])\s+/.test(next)) closeLists();
      continue;
    }
    const heading = raw.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      flushParagraph();
      closeLists();
      const level = heading[1].length;
      out.push(`<h${level}>${inline(escapeHtml(heading[2].trim()))}</h${level}>`);
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(raw)) {
      flushParagraph();
      closeLists();
      out.push('<hr>');
      continue;
    }
    const item = raw.match(/^(\s*)([-*+]|\d+[.)])\s+(.*)$/);
    if (item) {
      flushParagraph();
      const indent = item[1].replace(/\t/g, '    ').length;
      const type = /\d/.test(item[2]) ? 'ol' : 'ul';
      const top = lists[lists.length - 1];
      if (!top || indent > top.indent) {
        const start = type === 'ol' && Number.parseInt(item[2], 10) !== 1
          ? ` start="${Number.parseInt(item[2], 10)}"` : '';
        out.push(`<${type}${start}><li>`);
        lists.push({ type, indent });
      } else {
        closeLists(indent);
        const current = lists[lists.length - 1];
        if (current && current.type === type) {
          out.push('</li><li>');
        } else {
          if (current) out.push(`</li></${lists.pop().type}>`);
          out.push(`<${type}><li>`);
          lists.push({ type, indent });
        }
      }
      out.push(inline(escapeHtml(item[3])));
      continue;
    }
    if (lists.length && /^\s+/.test(raw)) {  // a list item's continuation line
      out.push(` ${inline(line.trim())}`);
      continue;
    }
    closeLists();
    paragraph.push(line.trim());
  }
  flushParagraph();
  closeLists();
  return out.join('\n');
}
