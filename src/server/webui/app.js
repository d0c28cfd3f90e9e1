// tokamak's chat page. Plain browser JavaScript, no framework and nothing fetched from outside
// the server: conversations and settings live in localStorage, replies stream from
// /v1/chat/completions as server-sent events read off fetch(), and Stop aborts that fetch so
// the server sees the connection close and cancels the request.
'use strict';
(function () {
    const $ = function (id) { return document.getElementById(id); };
    const KEY = 'tokamak.';
    const DEFAULTS = {system: '', temperature: 0.8, top_p: 0.95, max_tokens: 512, extra: ''};

    function load(name, fallback) {
        try {
            const v = localStorage.getItem(KEY + name);
            return v === null ? fallback : JSON.parse(v);
        } catch (e) {
            return fallback;
        }
    }
    function save(name, value) {
        try {
            localStorage.setItem(KEY + name, JSON.stringify(value));
        } catch (e) {
            showError('Could not save to browser storage: ' + e.message);
        }
    }

    const state = {
        conversations: load('conversations', []),  // newest first
        current: load('current', null),
        settings: Object.assign({}, DEFAULTS, load('settings', {})),
        apiKey: load('apiKey', ''),
        nCtx: 0,
        busy: null,  // {controller, conv, msg} while a reply streams
    };

    // ---- errors -----------------------------------------------------------------------------

    function showError(text) {
        const el = $('error');
        el.textContent = text;
        el.hidden = !text;
    }

    // Turns an HTTP error reply into a sentence that says what to do about it.
    function describeError(status, body, headers) {
        const err = (body && body.error) || {};
        const msg = err.message || (typeof body === 'string' ? body : '');
        if (status === 401) {
            return 'Unauthorized (401): the server requires an API key, or the key is wrong. ' +
                'Enter it under Settings \u2192 API key.';
        }
        if (status === 503) {
            if (err.code === 'model_loading') return 'The model is still loading (503). Try again in a moment.';
            const after = headers && headers.get('Retry-After');
            return 'The server is busy: its request queue is full (503). Try again' +
                (after ? ' in ' + after + ' s' : ' shortly') + '.' + (msg ? ' Server: ' + msg : '');
        }
        if (status === 400 && err.code === 'context_length_exceeded') {
            return 'The conversation is too long for the model\u2019s context (400)' +
                (state.nCtx ? ': the limit is ' + state.nCtx + ' tokens' : '') +
                '. Start a new chat or shorten the messages. Server: ' + msg;
        }
        return 'Error ' + status + (msg ? ': ' + msg : '');
    }

    function authHeaders() {
        const h = {'Content-Type': 'application/json'};
        if (state.apiKey) h['Authorization'] = 'Bearer ' + state.apiKey;
        return h;
    }

    async function readError(res) {
        const text = await res.text();
        try { return JSON.parse(text); } catch (e) { return text; }
    }

    // ---- model info -------------------------------------------------------------------------

    async function loadModel() {
        try {
            const res = await fetch('/v1/models', {headers: authHeaders()});
            if (!res.ok) {
                $('model-name').textContent = 'unavailable';
                showError(describeError(res.status, await readError(res), res.headers));
                return;
            }
            const j = await res.json();
            const m = (j.data && j.data[0]) || {};
            $('model-name').textContent = m.id || '?';
            state.nCtx = (m.meta && m.meta.n_ctx) || 0;
            $('model-ctx').textContent = state.nCtx ? state.nCtx + ' tokens' : '–';
            if (!state.busy) showError('');
        } catch (e) {
            $('model-name').textContent = 'unreachable';
            showError('Cannot reach the server: ' + e.message);
        }
    }

    // ---- conversations ----------------------------------------------------------------------

    function currentConv() {
        return state.conversations.find(function (c) { return c.id === state.current; }) || null;
    }
    function persist() {
        save('conversations', state.conversations);
        save('current', state.current);
    }
    function newConversation() {
        const c = {id: Date.now().toString(36) + Math.random().toString(36).slice(2, 8),
                   title: 'New chat', created: Date.now(), messages: []};
        state.conversations.unshift(c);
        state.current = c.id;
        return c;
    }

    function renderList() {
        const ul = $('conversations');
        ul.textContent = '';
        for (const c of state.conversations) {
            const li = document.createElement('li');
            li.className = 'conv' + (c.id === state.current ? ' active' : '');
            li.dataset.id = c.id;
            const title = document.createElement('button');
            title.type = 'button';
            title.className = 'conv-title';
            title.textContent = c.title;
            title.title = c.title;
            title.addEventListener('click', function () {
                if (state.busy) return;
                state.current = c.id;
                persist();
                renderAll();
            });
            const del = document.createElement('button');
            del.type = 'button';
            del.className = 'conv-delete';
            del.textContent = '\u00d7';
            del.title = 'Delete this conversation';
            del.addEventListener('click', function () {
                if (state.busy && state.busy.conv === c) return;
                state.conversations = state.conversations.filter(function (x) { return x !== c; });
                if (state.current === c.id) state.current = null;
                persist();
                renderAll();
            });
            li.append(title, del);
            ul.append(li);
        }
    }

    function messageStats(m) {
        if (!m.stats) return '';
        let s = m.stats.tokens + ' tokens';
        if (m.stats.tps) s += ' \u00b7 ' + m.stats.tps.toFixed(1) + ' tokens/s';
        if (m.stopped) s += ' \u00b7 stopped';
        if (m.finish && m.finish !== 'stop') s += ' \u00b7 ' + m.finish;
        return s;
    }

    function renderMessage(m) {
        const div = document.createElement('div');
        div.className = 'msg ' + m.role + (m.error ? ' failed' : '');
        const role = document.createElement('div');
        role.className = 'role';
        role.textContent = m.role === 'user' ? 'You' : 'Assistant';
        const body = document.createElement('div');
        body.className = 'content';
        if (m.role === 'assistant') {
            body.innerHTML = window.tkMarkdown.render(m.content);  // escapes before any markup
            addCopyButtons(body);
        } else {
            body.textContent = m.content;
        }
        const meta = document.createElement('div');
        meta.className = 'meta';
        meta.textContent = m.error ? m.error : messageStats(m);
        div.append(role, body, meta);
        return div;
    }

    function addCopyButtons(root) {
        for (const pre of root.querySelectorAll('pre')) {
            const b = document.createElement('button');
            b.type = 'button';
            b.className = 'copy';
            b.textContent = 'Copy';
            b.addEventListener('click', function () {
                const text = pre.querySelector('code').textContent;
                if (navigator.clipboard) navigator.clipboard.writeText(text).catch(function () {});
            });
            pre.prepend(b);
        }
    }

    function renderMessages() {
        const box = $('messages');
        box.textContent = '';
        const c = currentConv();
        $('chat-title').textContent = c ? c.title : 'New chat';
        if (!c) return;
        for (const m of c.messages) box.append(renderMessage(m));
        box.scrollTop = box.scrollHeight;
    }

    function renderAll() {
        renderList();
        renderMessages();
        $('send').hidden = !!state.busy;
        $('stop').hidden = !state.busy;
    }

    // ---- settings ---------------------------------------------------------------------------

    function bindSettings() {
        const fields = [['system-prompt', 'system', String], ['temperature', 'temperature', Number],
                        ['top-p', 'top_p', Number], ['max-tokens', 'max_tokens', Number],
                        ['extra-json', 'extra', String]];
        for (const [id, key, conv] of fields) {
            const el = $(id);
            el.value = state.settings[key];
            el.addEventListener('input', function () {
                state.settings[key] = el.value === '' ? DEFAULTS[key] : conv(el.value);
                save('settings', state.settings);
            });
        }
        const key = $('api-key');
        key.value = state.apiKey;
        key.addEventListener('change', function () {
            state.apiKey = key.value.trim();
            save('apiKey', state.apiKey);
            loadModel();
        });
        $('toggle-settings').addEventListener('click', function () {
            const s = $('settings');
            s.hidden = !s.hidden;
            $('toggle-settings').setAttribute('aria-expanded', String(!s.hidden));
        });
    }

    function requestBody(conv) {
        const st = state.settings;
        const messages = [];
        if (st.system && st.system.trim()) messages.push({role: 'system', content: st.system});
        for (const m of conv.messages) {
            if (m.error || (m.role === 'assistant' && !m.content)) continue;
            messages.push({role: m.role, content: m.content});
        }
        let extra = {};
        if (st.extra && st.extra.trim()) {
            extra = JSON.parse(st.extra);  // the caller reports a SyntaxError
            if (typeof extra !== 'object' || extra === null || Array.isArray(extra))
                throw new SyntaxError('extra request JSON must be an object');
        }
        return Object.assign({
            messages: messages,
            stream: true,
            stream_options: {include_usage: true},
            temperature: Number(st.temperature),
            top_p: Number(st.top_p),
            max_tokens: Number(st.max_tokens),
        }, extra);
    }

    // ---- streaming --------------------------------------------------------------------------

    // Calls onEvent(json) for every `data:` frame of an SSE body until [DONE] or the end.
    async function readEvents(res, onEvent) {
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        for (;;) {
            const {done, value} = await reader.read();
            if (done) break;
            buf += decoder.decode(value, {stream: true});
            let cut;
            while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
                const frame = buf.slice(0, cut);
                buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
                const data = frame.split(/\r?\n/).filter(function (l) { return l.startsWith('data:'); })
                    .map(function (l) { return l.slice(5).replace(/^ /, ''); }).join('\n');
                if (!data) continue;
                if (data === '[DONE]') return;
                onEvent(JSON.parse(data));
            }
        }
    }

    async function send(text) {
        showError('');
        let conv = currentConv();
        if (!conv) conv = newConversation();
        if (!conv.messages.length) conv.title = text.replace(/\s+/g, ' ').slice(0, 48);
        conv.messages.push({role: 'user', content: text});
        let body;
        try {
            body = requestBody(conv);
        } catch (e) {
            conv.messages.pop();
            showError('Settings: ' + e.message);
            return false;
        }
        const msg = {role: 'assistant', content: '', stats: {tokens: 0, tps: 0}};
        conv.messages.push(msg);
        const controller = new AbortController();
        state.busy = {controller: controller, conv: conv, msg: msg};
        persist();
        renderAll();
        const view = $('messages').lastElementChild;
        const contentEl = view.querySelector('.content');
        const metaEl = view.querySelector('.meta');
        metaEl.textContent = 'waiting for the first token\u2026';

        const start = performance.now();
        let first = 0, last = 0, tokens = 0, frame = 0, lastSave = Date.now();
        // Generation speed between the first and the latest token; when they came too close
        // together to time (a short reply read in one go), tokens over the whole request.
        const speed = function () {
            if (tokens < 1) return 0;
            const gen = (last - first) / 1000;
            if (gen > 0.02 && tokens > 1) return (tokens - 1) / gen;
            const all = (performance.now() - start) / 1000;
            return all > 0 ? tokens / all : 0;
        };
        const paint = function () {
            frame = 0;
            contentEl.innerHTML = window.tkMarkdown.render(msg.content);
            msg.stats = {tokens: tokens, tps: speed()};
            metaEl.textContent = messageStats(msg);
            $('speed').textContent = msg.stats.tps ? msg.stats.tps.toFixed(1) + ' tokens/s' : '';
            const box = $('messages');
            box.scrollTop = box.scrollHeight;
        };
        try {
            const res = await fetch('/v1/chat/completions', {
                method: 'POST', headers: authHeaders(), body: JSON.stringify(body),
                signal: controller.signal});
            if (!res.ok) {
                msg.error = describeError(res.status, await readError(res), res.headers);
                showError(msg.error);
            } else {
                await readEvents(res, function (ev) {
                    if (ev.error) throw new Error(ev.error.message || 'server error');
                    if (ev.usage && typeof ev.usage.completion_tokens === 'number')
                        tokens = ev.usage.completion_tokens;
                    const ch = ev.choices && ev.choices[0];
                    if (!ch) return;
                    if (ch.delta && ch.delta.content) {
                        last = performance.now();
                        if (!first) first = last;
                        ++tokens;
                        msg.content += ch.delta.content;
                    }
                    if (ch.finish_reason) msg.finish = ch.finish_reason;
                    if (!frame) frame = requestAnimationFrame(paint);
                    if (Date.now() - lastSave > 1000) { lastSave = Date.now(); persist(); }
                });
            }
        } catch (e) {
            if (e.name === 'AbortError') {
                msg.stopped = true;
            } else {
                msg.error = 'The reply failed: ' + e.message;
                showError(msg.error);
            }
        }
        if (frame) cancelAnimationFrame(frame);
        if (!msg.error) paint();
        state.busy = null;
        persist();
        renderAll();
        return true;
    }

    function stop() {
        if (state.busy) state.busy.controller.abort();
    }

    // ---- wiring -----------------------------------------------------------------------------

    function init() {
        bindSettings();
        $('new-chat').addEventListener('click', function () {
            if (state.busy) return;
            state.current = null;
            persist();
            renderAll();
            $('prompt').focus();
        });
        $('composer').addEventListener('submit', function (ev) {
            ev.preventDefault();
            const p = $('prompt');
            const text = p.value.trim();
            if (!text || state.busy) return;
            p.value = '';
            send(text);
        });
        $('prompt').addEventListener('keydown', function (ev) {
            if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
                ev.preventDefault();
                $('composer').requestSubmit();
            }
        });
        $('stop').addEventListener('click', stop);
        window.addEventListener('beforeunload', function () { if (state.busy) persist(); });
        renderAll();
        loadModel();
    }

    init();
})();
