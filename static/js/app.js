// The dashboard's small amount of JavaScript. Every page works without it except the live
// updates; CSP allows only this file (no inline scripts), so pages pass data in data-* attributes.
"use strict";

const POLL_MILLISECONDS = 1500;

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- "Copy" buttons: <button data-copy="#input-id"> ------------------------------------
function setUpCopyButtons() {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const input = document.querySelector(button.dataset.copy);
      const status = button.parentElement.querySelector(".copy-status");
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
      } catch (error) {
        document.execCommand("copy"); // plain-http pages have no clipboard API
      }
      if (status) status.textContent = "Copied";
    });
  });
}

// --- polling ------------------------------------------------------------------------------
// One round of a live update: the response, or null to try again next round. A network
// error (a moment offline, a server restart) must not end the updates for good; a redirect
// means the session ended (it lands on the login page), so the page reloads to show it.
async function pollOnce(url, accept) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: accept } });
  } catch (error) {
    return null;
  }
  if (response.redirected) {
    window.location.reload();
    return null;
  }
  return response.ok ? response : null;
}

// --- jobs table: rows of processing jobs refresh themselves ------------------------------
async function refreshProcessingRows() {
  for (;;) {
    const rows = document.querySelectorAll('[data-live-rows] tr[data-status="processing"]');
    if (rows.length === 0) return;
    await sleep(POLL_MILLISECONDS);
    for (const row of rows) {
      const response = await pollOnce(row.dataset.rowUrl, "text/html");
      if (!response) continue;
      const template = document.createElement("template");
      template.innerHTML = (await response.text()).trim();
      const fresh = template.content.firstElementChild;
      if (!fresh || fresh.tagName !== "TR") continue;
      if (fresh.dataset.status === row.dataset.status) {
        // Still processing: update the message only, so the thumbnails do not reload.
        row.querySelector("[data-cell=details]").replaceWith(fresh.querySelector("[data-cell=details]"));
      } else {
        row.replaceWith(fresh);
      }
    }
  }
}

// --- job page: reload once the job has finished -----------------------------------------
async function reloadWhenFinished() {
  const card = document.querySelector('[data-job-status-url][data-status="processing"]');
  if (!card) return;
  for (;;) {
    await sleep(POLL_MILLISECONDS);
    const response = await pollOnce(card.dataset.jobStatusUrl, "application/json");
    if (response && (await response.json()).status !== "processing") {
      window.location.reload();
      return;
    }
  }
}

// --- playground ---------------------------------------------------------------------------
function setUpPlayground() {
  const form = document.getElementById("playground");
  if (!form) return;
  form.querySelectorAll('input[type="file"]').forEach(showPreview);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await runTryOn(form);
    } finally {
      button.disabled = false;
    }
  });
}

function showPreview(input) {
  const preview = document.querySelector(`[data-preview-for="${input.name}"]`);
  input.addEventListener("change", () => {
    const file = input.files[0];
    preview.hidden = !file;
    if (file) {
      preview.src = URL.createObjectURL(file);
      preview.alt = `Preview of ${file.name}`;
    }
  });
}

async function runTryOn(form) {
  const panel = playgroundPanel();
  panel.reset();
  const response = await fetch(form.action, {
    method: "POST",
    body: new FormData(form),
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
  });
  const body = await response.json().catch(() => ({ error: `The server answered ${response.status}.` }));
  if (response.status !== 202) {
    panel.show({ status: "failed", error: body.error, errorCode: body.errorCode });
    return;
  }
  panel.setJob(body.jobUrl);
  document.querySelector('[data-testid="balance"]').textContent = body.balance;
  for (;;) {
    const statusResponse = await pollOnce(body.statusUrl, "application/json");
    if (statusResponse) {
      const job = await statusResponse.json();
      panel.show(job);
      if (job.status !== "processing") return;
    }
    await sleep(POLL_MILLISECONDS);
  }
}

// The result panel. Its links belong to one run: a new run clears them (so they never point
// at the previous job), and they show only once that run's job has completed with a result.
function playgroundPanel() {
  const section = document.getElementById("progress");
  const part = (name) => section.querySelector(`[data-field="${name}"]`);
  let jobUrl = null;
  const hideLink = (name) => {
    part(name).hidden = true;
    part(name).removeAttribute("href");
  };
  const showLink = (name, url) => {
    part(name).href = url;
    part(name).hidden = false;
  };
  return {
    reset() {
      jobUrl = null;
      section.hidden = false;
      part("figure").hidden = true;
      part("image").removeAttribute("src");
      this.show({ status: "processing", message: "Uploading…" });
    },
    setJob(url) {
      jobUrl = url;
    },
    show(job) {
      const badge = part("status");
      badge.textContent = job.status;
      badge.className = `badge badge-${job.status}`;
      part("message").textContent = job.status === "failed"
        ? `${job.error || "The job failed."}${job.errorCode ? ` (${job.errorCode})` : ""}`
        : job.message || (job.status === "completed" ? "Done." : "");
      part("bar").hidden = job.status !== "processing";
      const resultUrl = job.status === "completed" && job.images && job.images.result;
      if (resultUrl) {
        part("image").src = resultUrl;
        part("figure").hidden = false;
        showLink("download", resultUrl);
        showLink("job-link", jobUrl);
      } else {
        hideLink("download");
        hideLink("job-link");
      }
    },
  };
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpPlayground();
  refreshProcessingRows();
  reloadWhenFinished();
});
