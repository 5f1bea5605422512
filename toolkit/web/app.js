// The page of `crnn-toolkit serve`: sends a dropped, pasted or chosen image to POST /v1/recognize
// and shows the text it gets back, one line per row, chars under the threshold marked.
"use strict";

const $ = (id) => document.getElementById(id);
const drop = $("drop");
const statusLine = $("status");
let lastReading = null;

function setStatus(message, isError) {
  statusLine.textContent = message;
  statusLine.classList.toggle("error", Boolean(isError));
}

// One <div class="line"> per line, one <span> per char with its probability as a tooltip and in
// data-probability; chars under the threshold get class "low".
function showReading(reading) {
  const threshold = Number($("threshold").value);
  const box = $("text");
  box.replaceChildren();
  for (const line of reading.lines) {
    const row = document.createElement("div");
    row.className = "line";
    for (const { char, probability } of line.chars) {
      const span = document.createElement("span");
      span.textContent = char;
      span.title = `${char}: ${(probability * 100).toFixed(1)}%`;
      span.dataset.probability = probability;
      if (probability < threshold) span.className = "low";
      row.appendChild(span);
    }
    if (!line.chars.length) row.classList.add("empty");
    box.appendChild(row);
  }
  const lines = reading.lines.length;
  $("timing").textContent =
    `${lines} line${lines === 1 ? "" : "s"} (${reading.layout}` +
    (reading.skew_degrees ? `, deskewed ${reading.skew_degrees.toFixed(2)}°` : "") +
    `), confidence ${(reading.confidence * 100).toFixed(1)}%, ` +
    `read in ${(reading.elapsed_s * 1000).toFixed(0)} ms`;
}

async function recognize(blob) {
  if (!blob) return;
  $("preview").src = URL.createObjectURL(blob);
  setStatus("Reading…");
  const started = performance.now();
  try {
    const response = await fetch(`/v1/recognize?layout=${encodeURIComponent($("layout").value)}`, {
      method: "POST",
      headers: { "Content-Type": blob.type || "application/octet-stream" },
      body: blob,
    });
    const answer = await response.json();
    if (!response.ok) {
      setStatus(`Not read: ${answer.detail}`, true);
      return;
    }
    lastReading = answer;
    $("result").hidden = false;
    showReading(answer);
    setStatus(`Done (${(performance.now() - started).toFixed(0)} ms with the upload).`);
  } catch (err) {
    setStatus(`The server did not answer: ${err}`, true);
  }
}

$("file").addEventListener("change", (event) => recognize(event.target.files[0]));
$("threshold").addEventListener("input", () => lastReading && showReading(lastReading));

for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
}
for (const name of ["dragleave", "drop"]) {
  drop.addEventListener(name, () => drop.classList.remove("over"));
}
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  recognize(event.dataTransfer.files[0]);
});
document.addEventListener("paste", (event) => {
  const item = [...event.clipboardData.items].find((i) => i.type.startsWith("image/"));
  if (item) recognize(item.getAsFile());
});

fetch("/v1/info")
  .then((r) => r.json())
  .then((info) => {
    $("model").textContent = `Model: ${info.model} (${info.kind}, ${info.num_classes} classes).`;
    $("threshold").value = info.low_confidence;
  })
  .catch(() => {});
