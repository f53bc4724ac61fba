// Every visible control without an accessible name, and every visible text whose contrast with
// its background is below WCAG AA (4.5:1, or 3:1 for large text): a few of axe-core's rules.
() => {
  const visible = (el) => el.offsetParent !== null || el === document.body;
  const problems = [];
  for (const el of document.querySelectorAll("input, button, select, textarea, a[href], img")) {
    if (!visible(el) || el.type === "hidden") continue;
    const label = el.id && document.querySelector(`label[for="${el.id}"]`);
    const labelledby = el.getAttribute("aria-labelledby");
    if (el.tagName === "IMG") {
      // alt="" marks a decorative image, which screen readers skip: that is a choice, not a miss.
      if (!el.hasAttribute("alt")) problems.push(`no alt: ${el.outerHTML.slice(0, 80)}`);
      continue;
    }
    const name = (el.getAttribute("aria-label") || (label && label.textContent)
      || (labelledby && document.getElementById(labelledby)?.textContent)
      || el.textContent || "").trim();
    if (!name) problems.push(`no accessible name: ${el.outerHTML.slice(0, 80)}`);
  }
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll("body *")) {
    if (!visible(el)) continue;
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text) continue;
    const style = getComputedStyle(el);
    if (el.closest(".visually-hidden") || el.closest("button:disabled")) continue;
    const a = lum(rgb(style.color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) {
      problems.push(`contrast ${ratio.toFixed(2)} < ${need}: ${el.tagName} ${el.textContent.slice(0, 40)}`);
    }
  }
  return problems;
}
