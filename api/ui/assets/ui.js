// The web catalogue's one script, an enhancement only: a copy button beside each install snippet. Without it,
// or where the clipboard API is unavailable (plain HTTP), the snippet's text area selects itself on focus.
"use strict";

for (const area of document.querySelectorAll("textarea[data-snippet]")) {
  area.addEventListener("focus", () => area.select());
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  const area = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.copy + "-status");
  if (!area) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(area.value);
      if (status) status.textContent = "Copied.";
    } catch {
      area.focus();
      area.select();
      if (status) status.textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
    }
  });
}
