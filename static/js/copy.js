// Copy buttons. navigator.clipboard exists only in secure contexts (https or localhost);
// on http://LAN-IP it does not, so fall back to a selected textarea and execCommand.
function fallbackCopy(text) {
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  area.remove();
  return ok;
}

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch { /* fall through */ }
  }
  return fallbackCopy(text);
}

export function wireCopyButtons(root = document) {
  root.addEventListener('click', async (event) => {
    const button = event.target.closest('button.copy');
    if (!button) return;
    const ok = await copyText(button.dataset.copy);
    const label = button.textContent;
    button.textContent = ok ? 'Copied' : 'Select and copy by hand';
    setTimeout(() => { button.textContent = label; }, 1500);
  });
}
