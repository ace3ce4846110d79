// Accord console: the live feed plot. Polls the console's own JSON endpoint every second (CSP 'self';
// no external resource) and draws each flight as an SVG polyline on a longitude/latitude plot.
(function () {
  "use strict";
  var svg = document.getElementById("feed-plot");
  if (!svg) { return; }
  var NS = "http://www.w3.org/2000/svg";
  var W = 900, H = 600, PAD = 40;
  var api = svg.getAttribute("data-api");
  var COLOURS = ["#b3261e", "#0b57d0", "#146c2e", "#7d5700", "#6b3fa0", "#00677d", "#8c1d18", "#3b4b5c"];
  var busy = false;

  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function when(us) { return us ? new Date(us / 1000).toISOString().replace("T", " ").slice(0, 23) : ""; }
  function fmt(p) { return p ? p.lat.toFixed(3) + ", " + p.lon.toFixed(3) : ""; }

  // Places for orientation only (no map data is fetched: the console is air-gapped).
  var PLACES = [["Pyongyang", 39.03, 125.75], ["Seoul", 37.57, 126.98], ["Busan", 35.18, 129.08],
    ["Fukuoka", 33.59, 130.40], ["Tokyo", 35.68, 139.69], ["Niigata", 37.92, 139.04], ["Sapporo", 43.06, 141.35]];

  // The region: the flights' bounding box with a margin (at least 10° by 6.7°, the plot's aspect); with no
  // flight, the Korean peninsula, Japan and the seas around them.
  function region(flights) {
    var b = null;
    flights.forEach(function (f) {
      [f.launch, f.impact].concat(f.track).forEach(function (p) {
        if (!p) { return; }
        if (!b) { b = { w: p.lon, e: p.lon, s: p.lat, n: p.lat }; }
        b.w = Math.min(b.w, p.lon); b.e = Math.max(b.e, p.lon);
        b.s = Math.min(b.s, p.lat); b.n = Math.max(b.n, p.lat);
      });
    });
    if (!b) { b = { w: 122, e: 146, s: 30, n: 46 }; }
    var aspect = (W - 2 * PAD) / (H - 2 * PAD);
    var cx = (b.w + b.e) / 2, cy = (b.s + b.n) / 2;
    var dx = Math.max(10, (b.e - b.w) * 1.3 + 2), dy = Math.max(dx / aspect, (b.n - b.s) * 1.3 + 2);
    dx = Math.max(dx, dy * aspect);
    b = { w: cx - dx / 2, e: cx + dx / 2, s: cy - dy / 2, n: cy + dy / 2 };
    var s = (W - 2 * PAD) / dx;
    return {
      b: b,
      x: function (lon) { return PAD + (lon - b.w) * s; },
      y: function (lat) { return H - PAD - (lat - b.s) * s; }
    };
  }

  function grid(pr) {
    var g = document.getElementById("feed-grid");
    clear(g);
    var span = pr.b.e - pr.b.w, step = span > 40 ? 10 : span > 16 ? 5 : span > 8 ? 2 : 1, lon, lat;
    for (lon = Math.ceil(pr.b.w / step) * step; lon <= pr.b.e; lon += step) {
      g.appendChild(el("line", { "class": "grid", x1: pr.x(lon), x2: pr.x(lon), y1: pr.y(pr.b.s), y2: pr.y(pr.b.n) }));
      g.appendChild(el("text", { "class": "grid-label", x: pr.x(lon) + 2, y: pr.y(pr.b.s) + 14 }, lon + "°E"));
    }
    for (lat = Math.ceil(pr.b.s / step) * step; lat <= pr.b.n; lat += step) {
      g.appendChild(el("line", { "class": "grid", x1: pr.x(pr.b.w), x2: pr.x(pr.b.e), y1: pr.y(lat), y2: pr.y(lat) }));
      g.appendChild(el("text", { "class": "grid-label", x: pr.x(pr.b.w) + 2, y: pr.y(lat) - 3 }, lat + "°N"));
    }
    PLACES.forEach(function (pl) {
      var x = pr.x(pl[2]), y = pr.y(pl[1]);
      if (x < PAD || x > W - PAD || y < PAD || y > H - PAD) { return; }
      g.appendChild(el("rect", { "class": "place", x: x - 2.5, y: y - 2.5, width: 5, height: 5 }));
      g.appendChild(el("text", { "class": "place-label", x: x + 5, y: y + 14 }, pl[0]));
    });
  }

  function draw(data) {
    var flights = data.flights || [];
    var pr = region(flights);
    grid(pr);
    var g = document.getElementById("feed-tracks");
    clear(g);
    flights.forEach(function (f, i) {
      var c = COLOURS[i % COLOURS.length];
      var grp = el("g", { "class": "flight", "data-event": f.event, "data-originator": f.originator });
      grp.appendChild(el("title", {}, f.originator + " " + f.event + ": " + f.points + " track point(s)"));
      var pts = [];
      if (f.launch) { pts.push(f.launch); }
      pts = pts.concat(f.track);
      if (pts.length > 1) {
        grp.appendChild(el("polyline", {
          "class": "track", stroke: c, fill: "none", "stroke-width": 3,
          points: pts.map(function (p) { return pr.x(p.lon).toFixed(1) + "," + pr.y(p.lat).toFixed(1); }).join(" ")
        }));
      }
      var last = f.track.length ? f.track[f.track.length - 1] : null;
      if (last && f.impact) {
        grp.appendChild(el("line", {
          "class": "predicted", stroke: c, "stroke-width": 1.5, "stroke-dasharray": "6 4",
          x1: pr.x(last.lon), y1: pr.y(last.lat), x2: pr.x(f.impact.lon), y2: pr.y(f.impact.lat)
        }));
      }
      if (last) {
        grp.appendChild(el("circle", { "class": "head", fill: c, cx: pr.x(last.lon), cy: pr.y(last.lat), r: 5 }));
      }
      if (f.launch) {
        var lx = pr.x(f.launch.lon), ly = pr.y(f.launch.lat);
        grp.appendChild(el("polygon", {
          "class": "launch", fill: c, stroke: "#000",
          points: lx + "," + (ly - 8) + " " + (lx - 7) + "," + (ly + 6) + " " + (lx + 7) + "," + (ly + 6)
        }));
        grp.appendChild(el("text", { "class": "mark", x: lx - 10, y: ly - 12 - 16 * i, "text-anchor": "end" },
          f.event + " launch " + when(f.launch.time).slice(11, 19)));
      }
      if (f.impact) {
        var ix = pr.x(f.impact.lon), iy = pr.y(f.impact.lat);
        grp.appendChild(el("path", {
          "class": "impact", stroke: c, "stroke-width": 3,
          d: "M" + (ix - 7) + " " + (iy - 7) + "L" + (ix + 7) + " " + (iy + 7) + "M" + (ix - 7) + " " + (iy + 7) + "L" + (ix + 7) + " " + (iy - 7)
        }));
        grp.appendChild(el("text", { "class": "mark", x: ix + 10, y: iy + 5 }, f.event + " impact " + when(f.impact.time).slice(11, 19)));
      }
      g.appendChild(grp);
    });
  }

  function cell(tr, text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }

  function tables(data) {
    var body = document.querySelector("#feed-flights tbody");
    clear(body);
    (data.flights || []).forEach(function (f) {
      var tr = document.createElement("tr");
      var last = f.track.length ? f.track[f.track.length - 1] : null;
      cell(tr, f.originator); cell(tr, f.event);
      cell(tr, f.launch ? when(f.launch.time) : ""); cell(tr, fmt(f.launch));
      cell(tr, last ? fmt(last) + " · " + Math.round(last.alt_m) + " m · " + when(last.time) : "");
      cell(tr, String(f.points));
      cell(tr, f.impact ? when(f.impact.time) : ""); cell(tr, fmt(f.impact));
      body.appendChild(tr);
    });
    if (!(data.flights || []).length) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.setAttribute("colspan", "8"); td.textContent = "No flight received yet."; tr.appendChild(td); body.appendChild(tr);
    }
    var sbody = document.querySelector("#feed-streams tbody");
    clear(sbody);
    var st = data.status || {}, subs = st.subscribers || [];
    (data.streams || []).forEach(function (s) {
      var mine = subs.filter(function (u) { return u.stream === s.stream; });
      if (!mine.length) { mine = [null]; }
      mine.forEach(function (u) {
        var tr = document.createElement("tr");
        cell(tr, s.stream); cell(tr, s.role); cell(tr, String(s.head));
        if (u) { cell(tr, u.to); cell(tr, String(u.sent)); cell(tr, String(u.acked)); cell(tr, String(u.lag)); }
        else { var td = document.createElement("td"); td.setAttribute("colspan", "4"); td.textContent = "no subscriber"; tr.appendChild(td); }
        sbody.appendChild(tr);
      });
    });
    document.getElementById("feed-service").textContent = data.running ? "service running"
      : (data.status ? "service not running: status " + data.status_age_s + " s old" : "no feed service has run here");
    var counters = data.status ? st.party + " (hub " + st.hub + "), day " + st.day + ": published " + st.published +
      ", refused " + st.refused + ", relayed " + st.relayed + ", received " + st.received + ", batches " + st.batches +
      ", cut off " + st.cut_off + "; peers " + ((st.peers || []).join(", ") || "-") : "";
    if (data.quarantined) { counters += " · " + data.quarantined + " record(s) did not authenticate (not shown)"; }
    document.getElementById("feed-counters").textContent = counters;
    document.getElementById("feed-state").textContent = data.available
      ? (data.flights || []).length + " flight(s) · updated " + new Date().toISOString().slice(11, 19) + " UTC"
      : (data.why || "feed unavailable");
  }

  function poll() {
    if (busy) { return; }
    busy = true;
    fetch(api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) { throw new Error("signed out or not allowed (" + r.status + ")"); }
        return r.json();
      })
      .then(function (data) { draw(data); tables(data); svg.setAttribute("data-flights", String((data.flights || []).length)); })
      .catch(function (e) { document.getElementById("feed-state").textContent = "feed update failed: " + e.message; })
      .then(function () { busy = false; });
  }
  poll();
  window.setInterval(poll, 1000);
})();
