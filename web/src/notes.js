// A job's note and tags on the job view: shown to the class, edited by the job's owner and
// the instructor (the server enforces who may; the page only hides the form from others).
// The limits are the server's (server/service/notes.h); the inputs repeat them so a student
// sees them before sending, and the server's sentence is shown as it is when it refuses.
import * as api from './api.js';
import { escapeHtml } from './format.js';

export const MAX_NOTE_CHARS = 2000;
export const MAX_TAGS = 8;

// "week-3, baseline lr" -> ["week-3", "baseline", "lr"]: tags are separated by commas or spaces.
export function parseTags(text) {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

// Fills `box` (a <section>) for `job`; `canEdit` shows the edit form. `onSaved(job)` gets the
// job as stored after a save.
export function renderNotes(box, job, canEdit, onSaved) {
  const tags = job.tags ?? [];
  const note = job.note ?? '';
  box.hidden = !canEdit && !note && !tags.length;
  box.innerHTML = `<h2 id="notes-title">Note and tags</h2>
    <ul class="tags" id="job-tags" aria-label="Tags">${tags.map((t) =>
      `<li><a class="tag" href="#/?tag=${encodeURIComponent(t)}">${escapeHtml(t)}</a></li>`).join('')}</ul>
    <p id="job-note" class="note">${note ? escapeHtml(note) : '<span class="hint">No note.</span>'}</p>
    ${canEdit ? `<form id="notes-form" class="notes-form" novalidate>
      <div class="field"><label for="notes-text">Note <span class="hint">(at most ${MAX_NOTE_CHARS} characters)</span></label>
        <textarea id="notes-text" name="note" rows="3" maxlength="${MAX_NOTE_CHARS}">${escapeHtml(note)}</textarea></div>
      <div class="field"><label for="notes-tags">Tags <span class="hint">(up to ${MAX_TAGS}, separated by spaces; each 1–32 of a-z 0-9 . _ -)</span></label>
        <input id="notes-tags" name="tags" autocomplete="off" value="${escapeHtml(tags.join(' '))}"></div>
      <p class="form-error" id="notes-error" role="alert" hidden></p>
      <button type="submit" class="primary small" id="notes-save">Save note and tags</button>
      <span class="hint" id="notes-status" role="status" aria-live="polite"></span>
    </form>` : ''}`;
  const form = box.querySelector('#notes-form');
  if (!form) return;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = box.querySelector('#notes-error');
    const status = box.querySelector('#notes-status');
    error.hidden = true;
    status.textContent = '';
    const wanted = parseTags(form.elements.tags.value);
    const request = {
      note: form.elements.note.value,
      add_tags: wanted.filter((t) => !tags.includes(t)),
      remove_tags: tags.filter((t) => !wanted.includes(t)),
    };
    form.elements.namedItem('notes-save')?.setAttribute('disabled', '');
    try {
      const saved = await api.updateJobNotes(job.id, request);
      onSaved(saved);
      renderNotes(box, saved, canEdit, onSaved);
      box.querySelector('#notes-status').textContent = 'Saved.';
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      form.elements.namedItem('notes-save')?.removeAttribute('disabled');
    }
  });
}
