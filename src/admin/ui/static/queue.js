// backupmx console: the queue list's "select all" checkbox.
"use strict";

(function () {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", function () {
    for (const box of document.querySelectorAll('#queue-form input[name="id"]')) box.checked = all.checked;
  });
})();
