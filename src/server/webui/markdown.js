// A small Markdown renderer for model replies. Safety first: the text is HTML-escaped before
// any markup is added, so nothing the model writes can become a tag or an attribute; links keep
// only http(s) and mailto URLs. Supports fenced code blocks (also unterminated ones, as they
// arrive while streaming), inline code, headings, bold, italic, strike, links, block quotes,
// lists, horizontal rules and paragraphs.
'use strict';
(function (global) {
    function escapeHtml(s) {
        return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
            .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
    }

    // Inline markup on one already-escaped line. Code spans are cut out first so that nothing
    // inside them is treated as markup.
    function inline(escaped) {
        const spans = [];
        let s = escaped.replace(/`([^`]+)`/g, function (_, code) {
            spans.push('<code>' + code + '</code>');
            return '\u0000' + (spans.length - 1) + '\u0000';
        });
        s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, function (all, text, url) {
            // The URL is already escaped; unescape &amp; only to test the scheme.
            const raw = url.replace(/&amp;/g, '&');
            if (!/^(https?:\/\/|mailto:)/i.test(raw)) return all;
            return '<a href="' + url + '" target="_blank" rel="noopener noreferrer">' + text +
                '</a>';
        });
        s = s.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
        s = s.replace(/__([^_]+)__/g, '<strong>$1</strong>');
        s = s.replace(/(^|[^*])\*([^*\s][^*]*)\*/g, '$1<em>$2</em>');
        s = s.replace(/(^|[^\w_])_([^_\s][^_]*)_(?!\w)/g, '$1<em>$2</em>');
        s = s.replace(/~~([^~]+)~~/g, '<del>$1</del>');
        return s.replace(/\u0000(\d+)\u0000/g, function (_, i) { return spans[Number(i)]; });
    }

    function codeBlock(lang, lines) {
        const cls = /^[\w+#.-]+$/.test(lang) ? ' class="language-' + escapeHtml(lang) + '"' : '';
        return '<pre><code' + cls + '>' + escapeHtml(lines.join('\n')) + '</code></pre>';
    }

    function render(text) {
        const lines = String(text).replace(/\r\n?/g, '\n').split('\n');
        const out = [];
        let para = [];
        let list = null;  // {tag: 'ul'|'ol', items: []}
        let quote = [];

        function flushPara() {
            if (para.length) out.push('<p>' + para.map(inline).join('<br>') + '</p>');
            para = [];
        }
        function flushList() {
            if (list) {
                out.push('<' + list.tag + '>' + list.items.map(function (i) {
                    return '<li>' + inline(i) + '</li>';
                }).join('') + '</' + list.tag + '>');
            }
            list = null;
        }
        function flushQuote() {
            if (quote.length) out.push('<blockquote>' + render(quote.join('\n')) + '</blockquote>');
            quote = [];
        }
        function flushAll() { flushPara(); flushList(); flushQuote(); }

        for (let i = 0; i < lines.length; ++i) {
            const line = lines[i];
            const fence = /^\s*(```+|~~~+)\s*([^`\s]*)\s*$/.exec(line);
            if (fence) {
                flushAll();
                const body = [];
                let j = i + 1;
                while (j < lines.length && !new RegExp('^\\s*' + fence[1][0] + '{' +
                    fence[1].length + ',}\\s*$').test(lines[j])) {
                    body.push(lines[j]);
                    ++j;
                }
                out.push(codeBlock(fence[2], body));
                i = j;  // past the closing fence (or the end while it is still streaming)
                continue;
            }
            const esc = escapeHtml(line);
            if (/^\s*&gt;/.test(esc)) {
                flushPara(); flushList();
                quote.push(line.replace(/^\s*>\s?/, ''));
                continue;
            }
            flushQuote();
            if (/^\s*$/.test(line)) { flushPara(); flushList(); continue; }
            const h = /^(#{1,6})\s+(.*)$/.exec(esc);
            if (h) {
                flushPara(); flushList();
                out.push('<h' + h[1].length + '>' + inline(h[2]) + '</h' + h[1].length + '>');
                continue;
            }
            if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flushPara(); flushList(); out.push('<hr>'); continue; }
            const ul = /^\s*[-*+]\s+(.*)$/.exec(esc);
            const ol = /^\s*\d{1,9}[.)]\s+(.*)$/.exec(esc);
            if (ul || ol) {
                flushPara();
                const tag = ul ? 'ul' : 'ol';
                if (list && list.tag !== tag) flushList();
                if (!list) list = {tag: tag, items: []};
                list.items.push((ul || ol)[1]);
                continue;
            }
            if (list && /^\s+\S/.test(line)) {  // a continuation line of the last item
                list.items[list.items.length - 1] += ' ' + esc.trim();
                continue;
            }
            flushList();
            para.push(esc);
        }
        flushAll();
        return out.join('');
    }

    global.tkMarkdown = {render: render, escapeHtml: escapeHtml};
})(window);
