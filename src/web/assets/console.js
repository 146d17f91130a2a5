/* console.js - the twokey console's only script (no inline script: the
   Content-Security-Policy forbids it). Live preview on the new-case form:
   when the subject, action or signals change, fetch /cases/preview (an
   HTML fragment the server renders and escapes) into the preview box.
   Everything works without it: the form's Preview button does the same. */
(function () {
	"use strict";
	function ready(fn) {
		if (document.readyState !== "loading") fn();
		else document.addEventListener("DOMContentLoaded", fn);
	}
	ready(function () {
		var form = document.getElementById("new-case");
		var box = document.getElementById("preview");
		if (!form || !box) return;
		var timer = null, seq = 0;
		function refresh() {
			var q = new URLSearchParams();
			["subject", "action", "channel", "ticket", "reason_code"].forEach(function (n) {
				var el = form.elements.namedItem(n);
				if (el && el.value) q.append(n, el.value);
			});
			form.querySelectorAll("input[name=signal]:checked").forEach(function (el) {
				q.append("signal", el.value);
			});
			var mine = ++seq;
			fetch("/cases/preview?" + q.toString(), {credentials: "same-origin",
			    headers: {"Accept": "text/html"}})
				.then(function (r) { return r.ok ? r.text() : null; })
				.then(function (html) {
					if (html === null || mine !== seq) return;
					var doc = new DOMParser().parseFromString(html, "text/html");
					var frag = doc.getElementById("preview");
					box.replaceChildren.apply(box, frag ? Array.from(frag.childNodes) : []);
				})
				.catch(function () { /* the Preview button still works */ });
		}
		form.addEventListener("input", function () {
			clearTimeout(timer);
			timer = setTimeout(refresh, 250);
		});
		form.addEventListener("change", function () {
			clearTimeout(timer);
			timer = setTimeout(refresh, 50);
		});
	});
})();
