// The web catalogue's one script, an enhancement only: a copy button beside each install snippet, results that
// follow the search box, and sync states that follow a running sync. Without it every page and form works:
// the snippet's text area selects itself on focus (also where the clipboard API is unavailable, on plain
// HTTP), the search is a GET form, and the registries page shows a sync's state when reloaded.
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

// A part of this page, as the server renders it with `fragment=`, swapped in place of the element `id`; the
// change is said in the page's live region.
const swap = async (url, id, signal) => {
  const answer = await fetch(url, { signal, headers: { Accept: "text/html" } });
  if (!answer.ok) return false;
  const part = new DOMParser().parseFromString(await answer.text(), "text/html").getElementById(id);
  const here = document.getElementById(id);
  if (!part || !here) return false;
  here.replaceWith(part);
  return true;
};
const announce = (text) => {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
};

// The catalogue: results and facet counts follow the search box as it is typed in.
const search = document.querySelector("form.search");
if (search && document.getElementById("listing")) {
  let typing, inFlight;
  search.querySelector("input[name=q]").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(async () => {
      inFlight?.abort();
      inFlight = new AbortController();
      const query = new URLSearchParams(new FormData(search)).toString();
      try {
        if (await swap(`/ui?${query}&fragment=listing`, "listing", inFlight.signal)) {
          history.replaceState(null, "", `/ui?${query}`);
          announce(document.getElementById("count")?.textContent ?? "");
        }
      } catch {
        // A search typed over this one, or the network: the form still submits.
      }
    }, 300);
  });
}

// The registries page: while a sync is queued or running, its state is shown again every two seconds.
const watch = async () => {
  if (!document.getElementById("registry-list")?.dataset.busy) return;
  try {
    await swap(`/ui/registries?fragment=list`, "registry-list");
  } catch {
    // Shown again at the next turn.
  }
  if (!document.getElementById("registry-list")?.dataset.busy) announce("Every sync has finished.");
  setTimeout(watch, 2000);
};
setTimeout(watch, 2000);
