// backupmx console: keeps the dashboard current by polling /ui/domains.json every 2 seconds, and
// shows a running flush's progress. Only textContent is ever set: no markup from the server.
"use strict";

(function () {
  const POLL_MS = 2000;

  function setText(el, text) {
    if (el && el.textContent !== String(text)) el.textContent = String(text);
  }

  function rowsByDomain(table) {
    const rows = new Map();
    if (!table) return rows;
    for (const tr of table.querySelectorAll("tr[data-domain]")) rows.set(tr.dataset.domain, tr);
    return rows;
  }

  function updateCells(tr, fields) {
    for (const [name, value] of Object.entries(fields)) {
      setText(tr.querySelector('[data-field="' + name + '"]'), value);
    }
  }

  function updateHistogram(tr, counts) {
    counts.forEach(function (count, i) {
      const cell = tr.querySelector('[data-bucket="' + i + '"]');
      if (!cell) return;
      setText(cell, count);
      cell.classList.toggle("zero", count === 0);
    });
  }

  function updateDomains(view) {
    const domains = rowsByDomain(document.getElementById("domains"));
    const shape = rowsByDomain(document.getElementById("shape"));
    for (const d of view.domains) {
      const tr = domains.get(d.domain);
      if (!tr) {
        // A destination appeared: the layout changed, fetch the page again.
        window.location.reload();
        return;
      }
      updateCells(tr, {
        messages: d.messages, bytes: d.bytes, oldest: d.oldest,
        state_text: d.state_text, detail: d.detail, next_attempt: d.next_attempt,
      });
      const ready = tr.querySelector('[data-field="readiness_text"]');
      if (ready) {
        setText(ready, d.readiness_text);
        ready.className = "badge readiness-" + d.readiness;
        if (ready.title !== d.readiness_detail) ready.title = d.readiness_detail;
      }
      const badge = tr.querySelector('[data-field="state"]');
      if (badge) {
        setText(badge, d.state);
        badge.className = "badge state-" + d.state;
      }
      const shapeRow = shape.get(d.domain);
      if (shapeRow) {
        updateCells(shapeRow, { messages: d.messages });
        updateHistogram(shapeRow, d.histogram);
      }
    }
    const totalRow = shape.get("");
    if (totalRow) {
      updateCells(totalRow, { messages: view.total_messages });
      updateHistogram(totalRow, view.total_histogram);
    }
    setText(document.getElementById("total-messages"), view.total_messages);
    setText(document.getElementById("total-bytes"), view.total_bytes);
  }

  function updateFlush(view) {
    const box = document.getElementById("flush-progress");
    if (!box) return;
    const start = Number(box.dataset.start) || 0;
    const scope = box.dataset.scope;
    let remaining = view.total_messages;
    if (scope !== "all") {
      const d = view.domains.find(function (x) { return x.domain === scope; });
      remaining = d ? d.messages : 0;
    }
    setText(document.getElementById("flush-remaining"), remaining);
    const bar = box.querySelector("progress");
    if (bar) bar.value = Math.max(0, start - remaining);
    setText(document.getElementById("flush-status"), remaining === 0 ? "— done, the queue is empty." : "");
    box.classList.toggle("done", remaining === 0);
  }

  async function poll() {
    const live = document.getElementById("updated");
    try {
      const response = await fetch("/ui/domains.json", { credentials: "same-origin", cache: "no-store" });
      const type = response.headers.get("content-type") || "";
      if (!response.ok || type.indexOf("application/json") !== 0) {
        // Session gone (redirected to the login page): let the browser follow.
        window.location.reload();
        return;
      }
      const view = await response.json();
      updateDomains(view);
      updateFlush(view);
      setText(live, "updated " + view.updated);
      if (live) live.classList.remove("stale");
    } catch (e) {
      setText(live, "connection lost, retrying…");
      if (live) live.classList.add("stale");
    }
    window.setTimeout(poll, POLL_MS);
  }

  // A flush just started: show its progress at once.
  window.setTimeout(poll, document.getElementById("flush-progress") ? 300 : POLL_MS);
})();
