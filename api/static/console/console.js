/* hexdispatch dispatcher console: live map over /v1/ws/console, actions over the REST API.
 *
 * Couriers are drawn by one canvas layer (thousands move every second: one redraw per animation
 * frame, whatever the number of updates); orders, lines, fences and supply hexagons are Leaflet
 * vector layers on a shared canvas renderer. No build step, no network beyond this server. */
(function () {
  "use strict";

  const KEY_STORAGE = "hexdispatch.api_key";
  const STATUS_COLOUR = { idle: "#1f9d55", busy: "#e67e22", offline: "#95a5a6" };
  const STATUS_ORDER = ["idle", "busy", "offline"];
  const STATUS_CODE = { idle: 0, busy: 1, offline: 2 };
  const ORDER_COLOUR = {
    created: "#2563eb", offered: "#7c3aed", assigned: "#0891b2", picked_up: "#e67e22",
    delivered: "#1f9d55", cancelled: "#95a5a6", failed: "#c0392b",
  };
  const OPEN_STATES = new Set(["created", "offered", "assigned", "picked_up"]);
  const FENCE_STYLE = {
    service_zone: { color: "#2563eb", fillOpacity: 0.04, weight: 2 },
    restricted: { color: "#c0392b", fillOpacity: 0.12, weight: 2, dashArray: "6 4" },
    hub: { color: "#7c3aed", fillOpacity: 0.1, weight: 2 },
  };
  const FEED_MAX = 200;
  const LIST_MAX = 200;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const SUPPLY_EVERY_MS = 5000;
  const PANEL_EVERY_MS = 1000;

  const $ = (id) => document.getElementById(id);

  /* Run fn and add its duration to stats.ms[name] = [calls, total ms, max ms] (benchmarks read it). */
  function timed(name, fn) {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      const dt = performance.now() - t0;
      const m = (state.stats.ms[name] = state.stats.ms[name] || [0, 0, 0]);
      m[0] += 1;
      m[1] += dt;
      m[2] = Math.max(m[2], dt);
    }
  }
  const params = new URLSearchParams(location.search);

  const state = {
    key: params.get("api_key") || sessionStorage.getItem(KEY_STORAGE) || "",
    couriers: new Map(), // id -> courier message (latest)
    orders: new Map(), // id -> order message (latest)
    fences: new Map(), // id -> {id, kind, name, geometry}
    ws: null,
    backoff: BACKOFF_MIN_MS,
    retryTimer: null,
    subId: 0,
    synced: false,
    selectedOrder: null,
    assigning: null,
    stats: { snapshots: 0, deltas: 0, messages: 0, connects: 0, draws: 0, ms: {} },
  };
  if (params.get("api_key")) sessionStorage.setItem(KEY_STORAGE, state.key);

  // ------------------------------------------------------------------ map and layers

  const center = (params.get("center") || "-1.2864,36.8172").split(",").map(Number);
  const map = L.map("map", {
    preferCanvas: true,
    center: [center[0], center[1]],
    zoom: Number(params.get("zoom") || 12),
    zoomControl: true,
  });
  const vectors = L.canvas({ padding: 0.2 });
  const fenceLayer = L.featureGroup().addTo(map);
  const supplyLayer = L.featureGroup().addTo(map);
  const lineLayer = L.featureGroup().addTo(map);
  const orderLayer = L.featureGroup().addTo(map);

  /* One canvas for every courier: dots coloured by status with a heading tick. */
  const CourierLayer = L.Layer.extend({
    onAdd(m) {
      this._canvas = L.DomUtil.create("canvas", "hd-couriers leaflet-zoom-hide");
      this._canvas.style.pointerEvents = "none";
      m.getPanes().overlayPane.appendChild(this._canvas);
      m.on("moveend zoomend resize viewreset", this.redraw, this);
      this.redraw();
    },
    onRemove(m) {
      L.DomUtil.remove(this._canvas);
      m.off("moveend zoomend resize viewreset", this.redraw, this);
    },
    redraw() {
      if (this._frame || !this._map) return;
      this._frame = L.Util.requestAnimFrame(() => timed("draw", () => this._draw()));
    },
    _draw() {
      this._frame = null;
      const m = this._map;
      if (!m) return;
      const size = m.getSize();
      const dpr = window.devicePixelRatio || 1;
      const cv = this._canvas;
      if (cv.width !== size.x * dpr || cv.height !== size.y * dpr) {
        cv.width = size.x * dpr;
        cv.height = size.y * dpr;
        cv.style.width = size.x + "px";
        cv.style.height = size.y + "px";
      }
      L.DomUtil.setPosition(cv, m.containerPointToLayerPoint([0, 0]));
      const ctx = cv.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, size.x, size.y);
      const zoom = m.getZoom();
      const r = zoom >= 13 ? 5 : 3.5;
      // Web Mercator by hand into typed arrays: no LatLng/Point objects per courier per frame.
      const scale = 256 * Math.pow(2, zoom);
      const origin = m.getPixelOrigin();
      const offset = m.containerPointToLayerPoint([0, 0]);
      const dx = origin.x + offset.x;
      const dy = origin.y + offset.y;
      const n = state.couriers.size;
      if (!this._xs || this._xs.length < n) {
        this._xs = new Float64Array(n * 2);
        this._ys = new Float64Array(n * 2);
        this._hs = new Float64Array(n * 2);
        this._ss = new Uint8Array(n * 2);
      }
      const xs = this._xs, ys = this._ys, hs = this._hs, ss = this._ss;
      const margin = r + 10;
      let k = 0;
      for (const c of state.couriers.values()) {
        const lat = Math.max(-85.0511, Math.min(85.0511, c.lat));
        const x = scale * (0.5 + c.lng / 360) - dx;
        const y = scale * (0.5 - Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) / (2 * Math.PI)) - dy;
        if (x < -margin || y < -margin || x > size.x + margin || y > size.y + margin) continue;
        xs[k] = x;
        ys[k] = y;
        hs[k] = c.heading === null || c.heading === undefined ? NaN : c.heading;
        ss[k] = STATUS_CODE[c.status] === undefined ? 2 : STATUS_CODE[c.status];
        k += 1;
      }
      // One path per status and one for all heading ticks: a few canvas calls per frame.
      STATUS_ORDER.forEach((status, code) => {
        ctx.beginPath();
        for (let i = 0; i < k; i++) {
          if (ss[i] !== code) continue;
          ctx.moveTo(xs[i] + r, ys[i]);
          ctx.arc(xs[i], ys[i], r, 0, 2 * Math.PI);
        }
        ctx.fillStyle = STATUS_COLOUR[status];
        ctx.fill();
      });
      ctx.beginPath();
      for (let i = 0; i < k; i++) {
        if (Number.isNaN(hs[i])) continue;
        const a = (hs[i] * Math.PI) / 180;
        const sx = Math.sin(a), cy = Math.cos(a);
        ctx.moveTo(xs[i] + sx * r, ys[i] - cy * r);
        ctx.lineTo(xs[i] + sx * (r + 7), ys[i] - cy * (r + 7));
      }
      ctx.strokeStyle = "#1d2330";
      ctx.lineWidth = 1.5;
      ctx.stroke();
      const sel = state.couriers.get(state.highlightCourier);
      if (sel) {
        const p = m.latLngToContainerPoint([sel.lat, sel.lng]);
        ctx.beginPath();
        ctx.arc(p.x, p.y, r + 5, 0, 2 * Math.PI);
        ctx.strokeStyle = "#2563eb";
        ctx.lineWidth = 2;
        ctx.stroke();
      }
      state.stats.draws += 1;
    },
    /* The courier nearest to a container point, within `px` pixels. */
    nearest(point, px) {
      let best = null;
      let bestD = px * px;
      for (const c of state.couriers.values()) {
        const p = this._map.latLngToContainerPoint([c.lat, c.lng]);
        const d = (p.x - point.x) ** 2 + (p.y - point.y) ** 2;
        if (d <= bestD) {
          best = c;
          bestD = d;
        }
      }
      return best;
    },
  });
  const courierLayer = new CourierLayer().addTo(map);

  const overlays = {
    Couriers: courierLayer, Orders: orderLayer, "Offers & routes": lineLayer,
    Geofences: fenceLayer, "Supply / demand": supplyLayer,
  };
  const layerControl = L.control.layers({}, overlays, { collapsed: true }).addTo(map);

  const legend = L.control({ position: "bottomright" });
  legend.onAdd = () => {
    const div = L.DomUtil.create("div", "legend");
    div.innerHTML =
      "<b>Supply − demand per hexagon</b><br>" +
      '<i style="background:#1f9d55"></i>more idle couriers<br>' +
      '<i style="background:#f1c40f"></i>balanced<br>' +
      '<i style="background:#c0392b"></i>more waiting orders<br>' +
      '<b>Couriers</b> <span class="dot s-idle"></span> idle ' +
      '<span class="dot s-busy"></span> busy <span class="dot s-offline"></span> offline';
    return div;
  };
  legend.addTo(map);

  fetch("config.json")
    .then((r) => r.json())
    .then((cfg) => {
      if (!cfg.tile_url) return;
      const base = L.tileLayer(cfg.tile_url, { maxZoom: 19, attribution: "basemap" });
      base.addTo(map);
      base.bringToBack();
      layerControl.addBaseLayer(base, "Basemap");
    })
    .catch(() => {}); // no basemap: the vector layers stand on their own

  // ------------------------------------------------------------------ REST

  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      headers: Object.assign(
        { Authorization: "Bearer " + state.key },
        body === undefined ? {} : { "Content-Type": "application/json" },
      ),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const detail = (data && (data.detail || data.title)) || res.statusText;
      const err = new Error(`${res.status} ${detail}`);
      err.problem = data;
      throw err;
    }
    return data;
  }

  let toastTimer = null;
  function toast(text, ok) {
    const el = $("toast");
    el.textContent = text;
    el.className = ok ? "ok" : "";
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (el.hidden = true), ok ? 2500 : 6000);
  }

  // ------------------------------------------------------------------ websocket

  function setConn(cls, text) {
    const el = $("conn");
    el.className = "pill " + cls;
    el.textContent = text;
  }

  function viewportBbox() {
    const b = map.getBounds();
    const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
    return [
      clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
      clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90),
    ];
  }

  function subscribe() {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
    state.subId += 1;
    state.ws.send(JSON.stringify({ type: "subscribe", id: String(state.subId), bbox: viewportBbox() }));
  }

  function connect() {
    clearTimeout(state.retryTimer);
    if (state.ws) {
      state.ws.onclose = null;
      state.ws.close();
    }
    if (!state.key) {
      setConn("off", "no API key");
      return;
    }
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/v1/ws/console?api_key=${encodeURIComponent(state.key)}`);
    state.ws = ws;
    setConn("retry", "connecting");
    ws.onopen = () => {
      state.stats.connects += 1;
      subscribe();
    };
    ws.onmessage = (ev) => timed("frame", () => onFrame(JSON.parse(ev.data)));
    ws.onclose = (ev) => {
      state.ws = null;
      state.synced = false;
      if (ev.code === 4401) {
        setConn("bad", "bad API key");
        return; // retrying cannot help; wait for a new key
      }
      const wait = state.backoff * (0.8 + Math.random() * 0.4);
      state.backoff = Math.min(BACKOFF_MAX_MS, state.backoff * 2);
      setConn("retry", `reconnecting in ${(wait / 1000).toFixed(1)} s`);
      state.retryTimer = setTimeout(connect, wait);
    };
  }

  function onFrame(frame) {
    if (frame.type === "snapshot") {
      if (frame.id !== String(state.subId)) return; // superseded by a newer subscription
      applySnapshot(frame);
    } else if (frame.type === "delta") {
      applyDelta(frame.messages);
    } else if (frame.type === "error") {
      toast("console: " + frame.detail);
    }
  }

  function applySnapshot(frame) {
    state.stats.snapshots += 1;
    state.backoff = BACKOFF_MIN_MS;
    state.synced = true;
    setConn("live", "live");
    state.couriers.clear();
    for (const c of frame.couriers) state.couriers.set(c.id, c);
    state.orders.clear();
    for (const o of frame.orders) state.orders.set(o.id, o);
    setFences(frame.fences);
    redrawOrders();
    courierLayer.redraw();
    schedulePanel();
  }

  function applyDelta(messages) {
    state.stats.deltas += 1;
    state.stats.messages += messages.length;
    let orders = false;
    let couriersMoved = false;
    for (const msg of messages) {
      if (msg.type === "courier") {
        state.couriers.set(msg.id, msg);
        couriersMoved = true;
      } else if (msg.type === "order") {
        const before = state.orders.get(msg.id);
        if (!before || before.state !== msg.state) feedOrder(msg);
        state.orders.set(msg.id, msg);
        orders = true;
      } else if (msg.type === "fence_event") {
        const fence = state.fences.get(msg.fence_id);
        feed(`courier ${msg.courier_id} ${msg.event === "exit" ? "left" : "entered"} ${fence ? fence.name || fence.kind : msg.fence_id}`,
          msg.event);
      }
    }
    // One redraw per frame, not one per message.
    if (couriersMoved) courierLayer.redraw();
    if (orders || (couriersMoved && lineLayer.getLayers().length)) redrawOrders();
    if ((orders || couriersMoved) && Date.now() - lastSupply > SUPPLY_EVERY_MS) refreshSupply();
    schedulePanel();
  }

  // ------------------------------------------------------------------ orders and lines

  function redrawOrders() {
    orderLayer.clearLayers();
    lineLayer.clearLayers();
    for (const o of state.orders.values()) {
      if (!OPEN_STATES.has(o.state)) continue;
      const colour = ORDER_COLOUR[o.state] || "#333";
      const pickup = [o.pickup[1], o.pickup[0]];
      const dropoff = [o.dropoff[1], o.dropoff[0]];
      const selected = state.selectedOrder === o.id;
      L.circleMarker(pickup, {
        renderer: vectors, radius: selected ? 8 : 6, color: "#fff", weight: 1.5,
        fillColor: colour, fillOpacity: 1,
      }).bindTooltip(`${o.id} pickup (${o.state})`).on("click", () => selectOrder(o.id)).addTo(orderLayer);
      L.circleMarker(dropoff, {
        renderer: vectors, radius: 5, color: colour, weight: 2, fillColor: "#fff", fillOpacity: 1,
      }).bindTooltip(`${o.id} drop-off`).on("click", () => selectOrder(o.id)).addTo(orderLayer);
      const courier = o.courier_id ? state.couriers.get(o.courier_id) : null;
      if (courier) {
        const here = [courier.lat, courier.lng];
        const path = o.state === "picked_up" ? [here, dropoff] : [here, pickup, dropoff];
        L.polyline(path, {
          renderer: vectors, color: colour, weight: 3, opacity: 0.85,
          dashArray: o.state === "offered" ? "6 6" : null, className: "hd-line",
        }).bindTooltip(`${o.id} → ${o.courier_id} (${o.state})`).addTo(lineLayer);
      } else if (selected) {
        L.polyline([pickup, dropoff], { renderer: vectors, color: colour, weight: 1, dashArray: "2 4" })
          .addTo(lineLayer);
      }
    }
  }

  function feedOrder(o) {
    const what = {
      created: "new order", offered: `offered to ${o.courier_id}`, assigned: `assigned to ${o.courier_id}`,
      picked_up: `picked up by ${o.courier_id}`, delivered: "delivered", cancelled: "cancelled",
      failed: "failed",
    }[o.state] || o.state;
    feed(`order ${o.id}: ${what}`, o.state);
  }

  function feed(text, kind) {
    const li = document.createElement("li");
    li.className = "ev-" + kind;
    const t = document.createElement("time");
    t.textContent = new Date().toLocaleTimeString();
    const span = document.createElement("span");
    span.textContent = text;
    li.append(t, span);
    const list = $("events");
    list.prepend(li);
    while (list.children.length > FEED_MAX) list.lastChild.remove();
  }

  function selectOrder(id) {
    state.selectedOrder = state.selectedOrder === id ? null : id;
    redrawOrders();
    schedulePanel();
  }

  function startAssign(orderId) {
    state.assigning = orderId;
    state.selectedOrder = orderId;
    $("mode").textContent = `Assign ${orderId}: click a courier on the map or in the list (Esc cancels)`;
    redrawOrders();
    schedulePanel();
  }

  function stopAssign() {
    state.assigning = null;
    $("mode").textContent = "";
    schedulePanel();
  }

  async function assignTo(courierId) {
    const orderId = state.assigning;
    stopAssign();
    try {
      const order = await api("POST", `/v1/orders/${encodeURIComponent(orderId)}/assign`, { courier_id: courierId });
      toast(`${orderId} assigned to ${courierId}`, true);
      if (order && order.id) upsertOrderView(order);
    } catch (e) {
      toast(`assign failed: ${e.message}`);
    }
  }

  /* A REST order view (GeoJSON points) as the websocket's order message. */
  function upsertOrderView(v) {
    const before = state.orders.get(v.id);
    if (before && before.version > v.version) return;
    const msg = {
      type: "order", id: v.id, state: v.state, courier_id: v.courier_id,
      pickup: v.pickup.coordinates, dropoff: v.dropoff.coordinates, version: v.version,
    };
    if (!before || before.state !== msg.state) feedOrder(msg);
    state.orders.set(v.id, msg);
    redrawOrders();
    schedulePanel();
  }

  async function cancelOrder(orderId) {
    try {
      upsertOrderView(await api("POST", `/v1/orders/${encodeURIComponent(orderId)}/cancel`, { reason: "cancelled by dispatcher" }));
      toast(`${orderId} cancelled`, true);
    } catch (e) {
      toast(`cancel failed: ${e.message}`);
    }
  }

  async function runDispatch() {
    try {
      const out = await api("POST", "/v1/dispatch/run", {});
      const n = out && (out.offers || out.assignments);
      toast(`dispatch ran${Array.isArray(n) ? `: ${n.length} offers` : ""}`, true);
    } catch (e) {
      toast(`dispatch failed: ${e.message}`);
    }
  }

  // ------------------------------------------------------------------ side panel

  let panelTimer = null;
  function schedulePanel() {
    if (panelTimer) return;
    panelTimer = setTimeout(() => {
      panelTimer = null;
      timed("panel", renderPanel);
    }, PANEL_EVERY_MS); // the lists need not follow every 250 ms delta
  }

  function button(text, onClick, cls) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (cls) b.className = cls;
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      onClick();
    });
    return b;
  }

  function renderPanel() {
    const waiting = [...state.orders.values()].filter((o) => o.state === "created");
    $("order-count").textContent = waiting.length;
    // Rebuild a list only when what it shows changed: positions move every second, rows rarely.
    const orderSig = `${state.selectedOrder}|${waiting.slice(0, LIST_MAX).map((o) => o.id).join(",")}`;
    if (orderSig !== shownSig.orders) {
      shownSig.orders = orderSig;
      renderOrders(waiting);
    }
    const q = $("courier-search").value.trim().toLowerCase();
    const all = [...state.couriers.values()];
    $("courier-count").textContent = all.length;
    const shown = all
      .filter((c) => !q || c.id.toLowerCase().includes(q) || c.status === q)
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .slice(0, LIST_MAX);
    const courierSig = `${Boolean(state.assigning)}|${shown.map((c) => `${c.id}:${c.status}:${c.load}`).join(",")}`;
    if (courierSig !== shownSig.couriers) {
      shownSig.couriers = courierSig;
      renderCouriers(shown);
    }
  }

  const shownSig = { orders: null, couriers: null };

  function renderOrders(waiting) {
    const orderItems = waiting.slice(0, LIST_MAX).map((o) => {
      const li = document.createElement("li");
      li.dataset.id = o.id;
      if (o.id === state.selectedOrder) li.className = "selected";
      const id = document.createElement("span");
      id.className = "id";
      id.textContent = o.id;
      li.append(id, button("Assign", () => startAssign(o.id), "assign"), button("Cancel", () => cancelOrder(o.id), "cancel"));
      li.addEventListener("click", () => {
        selectOrder(o.id);
        map.panTo([o.pickup[1], o.pickup[0]]);
      });
      return li;
    });
    $("orders").replaceChildren(...orderItems);
  }

  function renderCouriers(shown) {
    const courierItems = shown.map((c) => {
      const li = document.createElement("li");
      li.dataset.id = c.id;
      if (state.assigning) li.className = "pickable";
      const dot = document.createElement("span");
      dot.className = "dot s-" + c.status;
      const id = document.createElement("span");
      id.className = "id";
      id.textContent = `${c.id} · ${c.status}${c.capacity ? ` · ${c.load || 0}/${c.capacity}` : ""}`;
      li.append(dot, id);
      li.addEventListener("click", () => {
        if (state.assigning) return assignTo(c.id);
        const now = state.couriers.get(c.id) || c; // the row may be older than the position
        state.highlightCourier = c.id;
        map.panTo([now.lat, now.lng]);
        courierLayer.redraw();
      });
      return li;
    });
    $("couriers").replaceChildren(...courierItems);
  }

  // ------------------------------------------------------------------ geofences

  function setFences(fences) {
    state.fences.clear();
    for (const f of fences) state.fences.set(f.id, f);
    drawFences();
  }

  function drawFences() {
    fenceLayer.clearLayers();
    for (const f of state.fences.values()) {
      if (editor.fenceId === f.id) continue; // being edited: the editor draws it
      const layer = L.geoJSON(f.geometry, { style: () => FENCE_STYLE[f.kind] || FENCE_STYLE.service_zone });
      layer.bindTooltip(`${f.name || "(unnamed)"} · ${f.kind}`);
      layer.on("click", (ev) => {
        if (editor.active || state.assigning || courierLayer.nearest(ev.containerPoint, 10)) return;
        L.DomEvent.stopPropagation(ev);
        const div = document.createElement("div");
        div.append(`${f.name || "(unnamed)"} · ${f.kind} `, button("Edit", () => { map.closePopup(); editFence(f); }, "edit-fence"));
        L.popup().setLatLng(ev.latlng).setContent(div).openOn(map);
      });
      layer.addTo(fenceLayer);
    }
  }

  /* A click-to-add-vertices polygon tool; vertices are draggable markers. */
  const editor = { active: false, fenceId: null, vertices: [], layer: L.featureGroup() };

  function startEditor(title, name, kind, ring, fenceId) {
    stopAssign();
    editor.active = true;
    editor.fenceId = fenceId;
    editor.layer.clearLayers().addTo(map);
    editor.vertices = [];
    editor.outline = L.polygon([], { color: "#2563eb", weight: 2, dashArray: "4 4", fillOpacity: 0.08, interactive: false }).addTo(editor.layer);
    for (const ll of ring) addVertex(ll);
    $("fence-editor-title").textContent = title;
    $("fence-name").value = name;
    $("fence-kind").value = kind;
    $("fence-kind").disabled = Boolean(fenceId); // the API cannot change a fence's kind
    $("fence-editor").hidden = false;
    $("mode").textContent = "Drawing a geofence: click to add vertices";
    map.doubleClickZoom.disable();
    drawFences();
  }

  function stopEditor() {
    editor.active = false;
    editor.fenceId = null;
    editor.layer.clearLayers().remove();
    $("fence-editor").hidden = true;
    $("mode").textContent = "";
    map.doubleClickZoom.enable();
    drawFences();
  }

  function addVertex(latlng) {
    const icon = L.divIcon({ className: "vertex-icon", iconSize: [12, 12] });
    const marker = L.marker(latlng, { icon, draggable: true, keyboard: false }).addTo(editor.layer);
    marker.on("drag", updateOutline);
    marker.on("contextmenu", () => {
      editor.vertices = editor.vertices.filter((v) => v !== marker);
      editor.layer.removeLayer(marker);
      updateOutline();
    });
    editor.vertices.push(marker);
    updateOutline();
  }

  function updateOutline() {
    editor.outline.setLatLngs(editor.vertices.map((v) => v.getLatLng()));
  }

  function editFence(f) {
    const ring = f.geometry.type === "Polygon" ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
    startEditor(`Edit ${f.name || f.id}`, f.name, f.kind, ring.slice(0, -1).map(([lng, lat]) => [lat, lng]), f.id);
  }

  async function saveFence() {
    if (editor.vertices.length < 3) {
      toast("a geofence needs at least 3 vertices");
      return;
    }
    const ring = editor.vertices.map((v) => {
      const ll = v.getLatLng();
      return [Number(ll.lng.toFixed(7)), Number(ll.lat.toFixed(7))];
    });
    ring.push(ring[0]);
    const geometry = { type: "Polygon", coordinates: [ring] };
    const name = $("fence-name").value.trim();
    try {
      const feature = editor.fenceId
        ? await api("PATCH", `/v1/geofences/${encodeURIComponent(editor.fenceId)}`, { name, geometry })
        : await api("POST", "/v1/geofences", { kind: $("fence-kind").value, name, geometry });
      state.fences.set(feature.id, {
        id: feature.id, kind: feature.properties.kind, name: feature.properties.name, geometry: feature.geometry,
      });
      feed(`geofence ${feature.properties.name || feature.id} saved`, "fence");
      toast(`geofence ${feature.id} saved`, true);
      stopEditor();
    } catch (e) {
      toast(`geofence not saved: ${e.message}`);
    }
  }

  // ------------------------------------------------------------------ supply / demand

  function supplyResolution() {
    const z = map.getZoom();
    // About 100–300 hexagons on a screen: more costs frame time without showing more.
    return z >= 16 ? 10 : z >= 14 ? 9 : z >= 12 ? 8 : z >= 10 ? 7 : 6;
  }

  function supplyStyle(p) {
    const colour = p.balance > 0 ? "#1f9d55" : p.balance < 0 ? "#c0392b" : "#f1c40f";
    const strength = Math.min(1, Math.abs(p.balance) / 5);
    return { renderer: vectors, color: colour, weight: 1, fillColor: colour, fillOpacity: 0.15 + 0.35 * strength };
  }

  let supplyBusy = false;
  let lastSupply = 0;
  async function refreshSupply() {
    if (!state.key || supplyBusy || !map.hasLayer(supplyLayer)) return;
    supplyBusy = true;
    lastSupply = Date.now();
    try {
      const bbox = viewportBbox().map((v) => v.toFixed(6)).join(",");
      const fc = await api("GET", `/v1/supply?bbox=${bbox}&resolution=${supplyResolution()}`);
      supplyLayer.clearLayers();
      L.geoJSON(fc, {
        style: (f) => supplyStyle(f.properties),
        onEachFeature: (f, layer) =>
          layer.bindTooltip(`${f.properties.cell}: ${f.properties.idle} idle, ${f.properties.waiting} waiting`),
      }).addTo(supplyLayer);
      supplyLayer.bringToBack();
    } catch (e) {
      if (e.problem && e.problem.status === 401) setConn("bad", "bad API key");
    } finally {
      supplyBusy = false;
    }
  }

  // ------------------------------------------------------------------ wiring

  let moveTimer = null;
  map.on("moveend", () => {
    clearTimeout(moveTimer);
    moveTimer = setTimeout(() => {
      subscribe();
      refreshSupply();
    }, 200);
  });
  map.on("click", (ev) => {
    if (editor.active) {
      addVertex(ev.latlng);
      return;
    }
    const c = courierLayer.nearest(ev.containerPoint, 10);
    if (state.assigning) {
      if (c) assignTo(c.id);
      return;
    }
    state.highlightCourier = c ? c.id : null;
    courierLayer.redraw();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape") return;
    if (state.assigning) stopAssign();
    else if (editor.active) stopEditor();
  });
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.key = $("api-key").value.trim();
    sessionStorage.setItem(KEY_STORAGE, state.key);
    state.backoff = BACKOFF_MIN_MS;
    connect();
    refreshSupply();
  });
  $("api-key").value = state.key;
  $("run-dispatch").addEventListener("click", runDispatch);
  $("draw-fence").addEventListener("click", () => startEditor("New geofence", "", "service_zone", [], null));
  $("fence-save").addEventListener("click", saveFence);
  $("fence-cancel").addEventListener("click", stopEditor);
  $("courier-search").addEventListener("input", renderPanel);
  setInterval(refreshSupply, 10000);

  connect();
  refreshSupply();

  // For tests and benchmarks: read-only views of the live state.
  window.hexConsole = {
    map,
    stats: state.stats,
    courier: (id) => state.couriers.get(id) || null,
    courierCount: () => state.couriers.size,
    order: (id) => state.orders.get(id) || null,
    lineCount: () => lineLayer.getLayers().length,
    fenceCount: () => state.fences.size,
    supplyCount: () => {
      let n = 0;
      supplyLayer.eachLayer((g) => g.eachLayer(() => (n += 1)));
      return n;
    },
    synced: () => state.synced,
    reconnect: () => state.ws && state.ws.close(),
  };
})();
