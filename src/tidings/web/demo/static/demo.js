// Tidings demo page: pusher-js signin, user events and watchlist events against this server.
// Development only: /demo/user-auth signs in any user name (see docs/demo.md).
(function () {
  'use strict';

  var USER_ID = /^[-a-zA-Z0-9_=@,.;]{1,184}$/;
  var $ = function (id) { return document.getElementById(id); };
  var appKey = document.querySelector('meta[name="tidings-app-key"]').content;

  var pusher = null;      // the current Pusher client (a new one per sign-in)
  var me = null;          // the signed-in user id
  var watchItems = {};    // user id -> <li> in the watchlist

  $('app-key').textContent = appKey || '(none)';
  if (!appKey) {
    $('no-app').hidden = false;
    $('signin-button').disabled = true;
    $('send-button').disabled = true;
  }

  function setPill(el, state, text) {
    el.dataset.state = state;
    el.textContent = text;
  }

  function clearEmpty(list) {
    var empty = list.querySelector('.empty');
    if (empty) { empty.remove(); }
  }

  function timeNow() {
    return new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  }

  // One line in the event log: kind is "message", "event", "online", "offline" or "error".
  function log(kind, name, body) {
    var list = $('log');
    clearEmpty(list);
    var li = document.createElement('li');
    li.className = 'entry ' + kind;
    li.dataset.event = name;
    var time = document.createElement('time');
    time.textContent = timeNow();
    var tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = name;
    var text = document.createElement('span');
    text.className = 'body';
    text.textContent = body;
    li.append(time, tag, text);
    list.prepend(li);
  }

  function describe(data) {
    if (data && typeof data === 'object' && typeof data.text === 'string') {
      return (data.from ? data.from + ': ' : '') + data.text;
    }
    return typeof data === 'string' ? data : JSON.stringify(data);
  }

  function statusLine(ids, state) {
    return ids.join(', ') + (ids.length > 1 ? ' are ' : ' is ') + state;
  }

  function renderWatchlist(ids) {
    var list = $('watchlist');
    list.textContent = '';
    watchItems = {};
    if (!ids.length) {
      var empty = document.createElement('li');
      empty.className = 'empty';
      empty.textContent = 'Your watchlist is empty.';
      list.append(empty);
      return;
    }
    ids.forEach(function (id) {
      var li = document.createElement('li');
      li.dataset.user = id;
      li.dataset.state = 'unknown';
      var dot = document.createElement('span');
      dot.className = 'dot';
      var name = document.createElement('span');
      name.className = 'name';
      name.textContent = id;
      var state = document.createElement('span');
      state.className = 'state';
      state.textContent = 'unknown';
      li.append(dot, name, state);
      list.append(li);
      watchItems[id] = li;
    });
  }

  function setWatchState(ids, state) {
    ids.forEach(function (id) {
      var li = watchItems[id];
      if (!li) { return; }
      li.dataset.state = state;
      li.querySelector('.state').textContent = state;
    });
  }

  function parseList(raw) {
    var seen = [];
    raw.split(',').forEach(function (part) {
      part = part.trim();
      if (part && seen.indexOf(part) < 0) { seen.push(part); }
    });
    return seen;
  }

  function signIn(userId, watchlist) {
    if (pusher) { pusher.disconnect(); }
    me = null;
    renderWatchlist(watchlist);
    setPill($('signin-status'), 'pending', 'signing in as ' + userId + '…');

    var client = new Pusher(appKey, {
      cluster: 'mt1',
      wsHost: location.hostname,
      wsPort: Number(location.port) || 80,
      wssPort: Number(location.port) || 443,
      forceTLS: location.protocol === 'https:',
      enabledTransports: ['ws', 'wss'],
      userAuthentication: {
        endpoint: '/demo/user-auth',
        transport: 'ajax',
        params: { user_id: userId, watchlist: watchlist.join(','), key: appKey },
      },
    });
    pusher = client;
    var current = function () { return client === pusher; };

    client.connection.bind('state_change', function (change) {
      if (!current()) { return; }
      setPill($('connection-state'), change.current, change.current);
      if (change.previous === 'connected' && change.current !== 'connected') {
        // pusher-js signs in again by itself after a reconnect.
        me = null;
        setPill($('signin-status'), 'pending', 'waiting to sign in again as ' + userId + '…');
        setWatchState(watchlist, 'unknown');
      }
    });

    // pusher:signin_success reaches the connection's global emitter; user_data is the signed JSON.
    client.bind('pusher:signin_success', function (data) {
      if (!current()) { return; }
      var user = JSON.parse(data.user_data);
      me = user.id;
      setPill($('signin-status'), 'signed-in', 'Signed in as ' + user.id);
      log('event', 'pusher:signin_success', 'signed in as ' + user.id);
    });

    client.bind('pusher:error', function (data) {
      if (!current()) { return; }
      log('error', 'pusher:error', (data && data.code ? data.code + ' ' : '') + (data && data.message));
    });

    client.user.bind('pusher:signin_error', function (err) {
      if (!current()) { return; }
      setPill($('signin-status'), 'error', 'sign-in failed');
      log('error', 'pusher:signin_error', err.error || JSON.stringify(err));
    });

    // Every event sent to this user (send_to_user / sendToUser), whatever its name.
    client.user.bind_global(function (event, data) {
      if (!current() || event.indexOf('pusher:') === 0) { return; }
      log(event === 'demo-message' ? 'message' : 'event', event, describe(data));
    });

    client.user.watchlist.bind('online', function (e) {
      if (!current()) { return; }
      setWatchState(e.user_ids, 'online');
      log('online', 'online', statusLine(e.user_ids, 'online'));
    });
    client.user.watchlist.bind('offline', function (e) {
      if (!current()) { return; }
      setWatchState(e.user_ids, 'offline');
      log('offline', 'offline', statusLine(e.user_ids, 'offline'));
    });

    client.signin();
    $('signout-button').disabled = false;
  }

  $('signin-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var userId = $('user-id').value.trim();
    var watchlist = parseList($('watchlist-input').value);
    var bad = [userId].concat(watchlist).filter(function (id) { return !USER_ID.test(id); });
    if (bad.length) {
      setPill($('signin-status'), 'error', 'invalid user name: ' + bad[0]);
      return;
    }
    signIn(userId, watchlist);
  });

  $('signout-button').addEventListener('click', function () {
    if (pusher) { pusher.disconnect(); }
    pusher = null;
    me = null;
    setPill($('connection-state'), 'disconnected', 'disconnected');
    setPill($('signin-status'), 'signed-out', 'signed out');
    Object.keys(watchItems).forEach(function (id) { setWatchState([id], 'unknown'); });
    $('signout-button').disabled = true;
  });

  $('send-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var to = $('send-to').value.trim();
    var result = $('send-result');
    var body = new URLSearchParams({ key: appKey, user_id: to, message: $('send-message').value, from: me || '' });
    result.textContent = 'sending…';
    fetch('/demo/send', { method: 'POST', body: body })
      .then(function (resp) {
        return resp.json().then(function (json) { return { ok: resp.ok, json: json }; });
      })
      .then(function (r) {
        if (!r.ok) {
          result.textContent = 'Refused: ' + r.json.error;
        } else if (r.json.delivered === 0) {
          result.textContent = to + ' is not online: nothing delivered.';
        } else {
          result.textContent = 'Delivered to ' + r.json.delivered + ' connection(s) of ' + to + '.';
          $('send-message').value = '';
        }
      })
      .catch(function (err) { result.textContent = 'Failed: ' + err; });
  });
})();
