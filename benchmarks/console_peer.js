/* The peer for the console benchmark: Leaflet's textbook way, one L.circleMarker per courier on
 * a canvas renderer, setLatLng for every courier message. Injected into a blank page. */
window.startPeer = function (wsUrl, center, zoom) {
  document.body.style.margin = "0";
  const div = document.createElement("div");
  div.id = "map";
  div.style.cssText = "width:100vw;height:100vh";
  document.body.append(div);
  const map = L.map("map", { preferCanvas: true, center, zoom });
  const markers = new Map();
  const colour = { idle: "#1f9d55", busy: "#e67e22", offline: "#95a5a6" };
  window.peerCount = () => markers.size;
  const ws = new WebSocket(wsUrl);
  ws.onopen = () => {
    const b = map.getBounds();
    ws.send(JSON.stringify({ type: "subscribe", id: "1", bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()] }));
  };
  const put = (c) => {
    const m = markers.get(c.id);
    if (m) m.setLatLng([c.lat, c.lng]);
    else markers.set(c.id, L.circleMarker([c.lat, c.lng], { radius: 4, fillColor: colour[c.status], fillOpacity: 1, stroke: false }).addTo(map));
  };
  ws.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    for (const c of f.type === "snapshot" ? f.couriers : f.messages || []) if (c.type === "courier") put(c);
  };
};
