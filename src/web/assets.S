/*
 * assets.S - the console's templates and static assets, embedded in the
 * binary with .incbin so twokey serves them without reading any file.
 * Each BLOB adds its bytes (start and end symbols, a NUL after the end)
 * and one row (name, start, end) to the table web_blobs..web_blobs_end
 * that render.c reads. Templates are named "NAME.html" (rendered as
 * NAME); assets by the path they are served at.
 *
 * Owns: the list of embedded files. Add a template or asset here.
 */

	.macro BLOB sym, name, file
	.section .rodata
	.balign 16
\sym\()_start:
	.incbin "\file"
\sym\()_end:
	.byte 0
\sym\()_name:
	.asciz "\name"
	.section .data.rel.ro
	.balign 8
	.dc.a \sym\()_name, \sym\()_start, \sym\()_end
	.endm

	.section .data.rel.ro
	.balign 8
	.globl web_blobs
	.type web_blobs, @object
web_blobs:

	BLOB t_layout, "layout.html", "src/web/templates/layout.html"
	BLOB t_alert, "alert.html", "src/web/templates/alert.html"
	BLOB t_queues, "queues.html", "src/web/templates/queues.html"
	BLOB t_case, "case.html", "src/web/templates/case.html"
	BLOB t_case_new, "case_new.html", "src/web/templates/case_new.html"
	BLOB t_preview, "preview.html", "src/web/templates/preview.html"
	BLOB t_break_glass, "break_glass.html", "src/web/templates/break_glass.html"
	BLOB t_reviews, "reviews.html", "src/web/templates/reviews.html"
	BLOB t_audit, "audit.html", "src/web/templates/audit.html"
	BLOB t_policy, "policy.html", "src/web/templates/policy.html"
	BLOB t_explain, "explain.html", "src/web/templates/explain.html"
	BLOB t_notice, "notice.html", "src/web/templates/notice.html"
	BLOB t_login, "login.html", "src/web/templates/login.html"
	BLOB a_css, "/assets/console.css", "src/web/assets/console.css"
	BLOB a_js, "/assets/console.js", "src/web/assets/console.js"

	.section .data.rel.ro
	.globl web_blobs_end
web_blobs_end:

	.section .note.GNU-stack,"",@progbits
