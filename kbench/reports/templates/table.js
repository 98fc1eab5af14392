/* kbench pages: sortable and filterable tables, no dependencies, works from file:// and from a file server.
 *
 * table.sortable: a click (or Enter/Space) on a header sorts by that column, again reverses. Cells may carry
 *   data-v (the raw value); headers carry data-type="num" or "text". Numbers sort numerically and
 *   missing values (empty, NaN) always go last, whichever the direction; the sort is stable.
 * Filters name their table with data-filter-for="<table id>": input[type=search] keeps the rows whose text
 *   holds every word; select[data-col] keeps rows whose data-<col> equals the chosen value; a checkbox
 *   hides rows with data-flagged="1". An element [data-count-for] shows "N of M rows".
 * button[data-download-for] saves the visible rows of the JSON embedded in script#kb-data as a file.
 */
(function () {
  "use strict";

  function numValue(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) { v = cell.textContent; }
    v = String(v).trim();
    return v === "" ? NaN : parseFloat(v);
  }

  function textValue(cell) {
    var v = cell.getAttribute("data-v");
    return (v === null ? cell.textContent : v).trim().toLowerCase();
  }

  function compareRows(col, type, dir) {
    return function (a, b) {
      var x = a.cells[col], y = b.cells[col];
      if (type === "num") {
        var p = numValue(x), q = numValue(y), pn = isNaN(p), qn = isNaN(q);
        if (pn || qn) { return pn === qn ? 0 : (pn ? 1 : -1); }   // missing last in both directions
        return dir * (p - q);
      }
      var s = textValue(x), t = textValue(y);
      if (s === "" || t === "") { return (s === "") === (t === "") ? 0 : (s === "" ? 1 : -1); }
      return dir * s.localeCompare(t, undefined, {numeric: true});
    };
  }

  function sortBy(table, th, index) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(th.parentNode.cells, function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(compareRows(index, th.getAttribute("data-type") || "text", dir));
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function initSorting(table) {
    var head = table.tHead.rows[table.tHead.rows.length - 1];
    Array.prototype.forEach.call(head.cells, function (th, index) {
      if (th.classList.contains("nosort")) { return; }
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th, index); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(table, th, index); }
      });
    });
  }

  function controls(id, selector) {
    return Array.prototype.slice.call(document.querySelectorAll(selector + '[data-filter-for="' + id + '"]'));
  }

  function applyFilters(table) {
    var words = [];
    controls(table.id, 'input[type="search"]').forEach(function (box) {
      words = words.concat(box.value.trim().toLowerCase().split(/\s+/).filter(Boolean));
    });
    var selects = controls(table.id, "select");
    var hideFlagged = controls(table.id, 'input[type="checkbox"]').some(function (c) { return c.checked; });
    var rows = table.tBodies[0].rows, shown = 0;
    Array.prototype.forEach.call(rows, function (row) {
      var text = row.textContent.toLowerCase();
      var keep = words.every(function (w) { return text.indexOf(w) !== -1; });
      selects.forEach(function (sel) {
        if (sel.value !== "" && row.getAttribute("data-" + sel.getAttribute("data-col")) !== sel.value) { keep = false; }
      });
      if (hideFlagged && row.getAttribute("data-flagged") === "1") { keep = false; }
      row.hidden = !keep;
      if (keep) { shown += 1; }
    });
    document.querySelectorAll('[data-count-for="' + table.id + '"]').forEach(function (el) {
      el.textContent = shown + " of " + rows.length + " rows";
    });
  }

  function initFilters(table) {
    var all = controls(table.id, "input").concat(controls(table.id, "select"));
    all.forEach(function (el) {
      el.addEventListener("input", function () { applyFilters(table); });
      el.addEventListener("change", function () { applyFilters(table); });
    });
    if (all.length) { applyFilters(table); }
  }

  function initDownload(button) {
    button.addEventListener("click", function () {
      var table = document.getElementById(button.getAttribute("data-download-for"));
      var data = JSON.parse(document.getElementById("kb-data").textContent);
      var visible = Array.prototype.filter.call(table.tBodies[0].rows, function (r) { return !r.hidden; })
        .map(function (r) { return parseInt(r.getAttribute("data-row"), 10); });
      data.rows = visible.map(function (i) { return data.rows[i]; });
      var blob = new Blob([JSON.stringify(data, null, 2)], {type: "application/json"});
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = "kbench-leaderboard.json";
      document.body.appendChild(link);
      link.click();
      setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 0);
    });
  }

  document.querySelectorAll("table.sortable").forEach(initSorting);
  document.querySelectorAll("table[id]").forEach(initFilters);
  document.querySelectorAll("button[data-download-for]").forEach(initDownload);
}());
