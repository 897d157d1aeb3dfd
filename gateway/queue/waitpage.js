/* The waiting page's live updates. The gateway inlines this after a JSON block (#wr-data) holding the
 * room's status URL, the first poll delay and the texts for each state. It polls the status JSON at the
 * server's poll_after_ms plus up to 25 % jitter (so a crowd that arrived together does not poll
 * together), updates the numbers in place, and when the buyer is admitted goes to the page they asked
 * for: a path on this site only. Without JavaScript the page refreshes itself (<noscript> meta). */
(function () {
  'use strict';
  var d = JSON.parse(document.getElementById('wr-data').textContent);
  var first = null, timer = 0, fails = 0, leaving = false;
  var key = 'wr-first-' + d.room;
  try { first = parseInt(sessionStorage.getItem(key), 10) || null; } catch (e) { /* storage off */ }

  function el(id) { return document.getElementById(id); }
  function text(id, v) { var e = el(id); if (e && e.textContent !== v) e.textContent = v; }
  function show(id, on) { var e = el(id); if (e) e.hidden = !on; }
  function wait(s) {
    if (s < 90) return 'about a minute';
    if (s < 5400) return 'about ' + Math.round(s / 60) + ' minutes';
    return 'about ' + Math.round(s / 3600) + ' hours';
  }
  function range(doc) {
    if (doc.eta_seconds == null) return d.no_eta;
    var a = wait(doc.eta_seconds), b = wait(doc.eta_p90_seconds);
    return a === b ? a : a + ', perhaps up to ' + b.replace('about ', '');
  }
  /* same site only: "/path", never "//host" or "/\host" (read as another host by browsers) */
  function safe(u) {
    return typeof u === 'string' && u.charAt(0) === '/' && u.charAt(1) !== '/' && u.charAt(1) !== '\\';
  }
  function stamp() { text('wr-updated', new Date().toLocaleTimeString()); }
  function say(state, extra) {
    var t = d.texts[state] || d.texts.trouble;
    text('wr-headline', t[0]);
    document.title = t[0];
    text('wr-message', t[1] + (extra ? ' ' + extra : ''));
    document.body.setAttribute('data-state', state);
  }

  function update(doc) {
    stamp();
    if (doc.admitted) {
      say('admitted');
      show('wr-place', false);
      show('wr-leave', false);
      var to = safe(doc.redirect) ? doc.redirect : d.back;
      try { sessionStorage.removeItem(key); } catch (e) { /* storage off */ }
      location.replace(safe(to) ? to : '/');
      return 0;
    }
    var state = doc.state;
    var extra = '';
    var at = doc.open_at || d.open_at; /* the organiser may have moved it since the page was made */
    if (state === 'scheduled' && at) {
      extra = d.opens_at.replace('%s', new Date(at * 1000).toLocaleString());
    }
    if (doc.likely_sold_out) extra = d.likely_sold_out;
    if (state === 'waiting' && doc.position == null) state = 'joining';
    say(state === 'scheduled' && doc.prequeue_full ? 'prequeue_full' : state, extra);
    var placed = doc.position != null;
    show('wr-place', placed);
    show('wr-leave', placed || state === 'scheduled');
    if (placed) {
      text('wr-position', String(doc.position));
      text('wr-ahead', doc.ahead === 1 ? '1 person' : doc.ahead + ' people');
      text('wr-eta', state === 'waiting' ? range(doc) : d.no_eta_state);
      if (first === null || doc.position > first) {
        first = doc.position;
        try { sessionStorage.setItem(key, String(first)); } catch (e) { /* storage off */ }
      }
      var p = el('wr-progress');
      if (p && first > 1) {
        p.value = Math.round(100 * (first - doc.position) / (first - 1));
        p.hidden = false;
      }
    }
    if (doc.shuffle_commitment) {
      text('wr-commitment', doc.shuffle_commitment);
      show('wr-fair', true);
      if (doc.shuffle_seed) {
        text('wr-seed', doc.shuffle_seed);
        show('wr-seed-line', true);
      }
    }
    return doc.poll_after_ms || d.poll;
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(poll, ms + Math.random() * ms * 0.25);
  }
  function poll() {
    if (leaving) return;
    var url = d.status + '&return=' + encodeURIComponent(d.back);
    fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) throw new Error('status ' + r.status);
        return r.json();
      })
      .then(function (doc) {
        fails = 0;
        var next = update(doc);
        if (next) schedule(next);
      })
      .catch(function () {
        /* the gateway or the network failed: the place is in the cookie, nothing is lost */
        fails++;
        stamp();
        say('trouble');
        schedule(Math.min(30000, d.poll * Math.pow(2, Math.min(fails, 4))));
      });
  }
  var form = el('wr-leave');
  if (form) form.addEventListener('submit', function () { leaving = true; clearTimeout(timer); });
  stamp();
  schedule(d.poll);
})();
