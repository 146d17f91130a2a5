// smtp_sink.js - an SMTP server for twokey's tests (npm smtp-server) that
// delivers nowhere: every accepted message is appended to a file as one
// JSON line {"from", "to": [...], "user", "data": the raw message}.
//
// Usage: node smtp_sink.js PORT OUTFILE
// Listens on 127.0.0.1:PORT only. Environment (all optional):
//   SMTP_SINK_USER, SMTP_SINK_PASSWORD  require AUTH with these (plain
//                                       connections allowed: a test box)
//   SMTP_SINK_STARTTLS=1                offer STARTTLS (smtp-server's
//                                       built-in self-signed certificate)
//   SMTP_SINK_REJECT=ADDRESS            answer 550 to RCPT TO:<ADDRESS>
// Prints "listening PORT" on stdout once it accepts connections.
'use strict';

const fs = require('fs');
const { SMTPServer } = require('smtp-server');

const MAX_SIZE = 1024 * 1024;

function main() {
	const port = Number(process.argv[2]);
	const out = process.argv[3];

	if (!Number.isInteger(port) || port <= 0 || port > 65535 || !out) {
		process.stderr.write('usage: node smtp_sink.js PORT OUTFILE\n');
		process.exit(2);
	}
	const user = process.env.SMTP_SINK_USER || '';
	const password = process.env.SMTP_SINK_PASSWORD || '';
	const starttls = process.env.SMTP_SINK_STARTTLS === '1';
	const reject = (process.env.SMTP_SINK_REJECT || '').toLowerCase();
	const disabled = [];

	if (!starttls)
		disabled.push('STARTTLS');
	if (!user)
		disabled.push('AUTH');
	// the output file exists (empty) before the first message
	fs.closeSync(fs.openSync(out, 'a'));

	const server = new SMTPServer({
		name: 'sink.test',
		banner: 'twokey test sink',
		logger: false,
		disabledCommands: disabled,
		authOptional: !user,
		allowInsecureAuth: true,
		size: MAX_SIZE,
		onAuth(auth, session, cb) {
			if (user && auth.username === user &&
			    auth.password === password)
				return cb(null, { user: auth.username });
			const e = new Error('Authentication credentials invalid');
			e.responseCode = 535;
			return cb(e);
		},
		onRcptTo(addr, session, cb) {
			if (reject && addr.address.toLowerCase() === reject) {
				const e = new Error('5.1.1 <' + addr.address +
				    '>: no such mailbox here');
				e.responseCode = 550;
				return cb(e);
			}
			return cb();
		},
		onData(stream, session, cb) {
			const chunks = [];

			stream.on('data', (c) => chunks.push(c));
			stream.on('error', (e) => cb(e));
			stream.on('end', () => {
				if (stream.sizeExceeded) {
					const e = new Error('message too large');
					e.responseCode = 552;
					return cb(e);
				}
				const rec = {
					from: session.envelope.mailFrom ?
					    session.envelope.mailFrom.address : '',
					to: session.envelope.rcptTo.map(
					    (r) => r.address),
					user: session.user || null,
					data: Buffer.concat(chunks).toString('utf8'),
				};
				try {
					// synchronous: on disk before the 250 reply
					fs.appendFileSync(out,
					    JSON.stringify(rec) + '\n');
				} catch (e) {
					e.responseCode = 451;
					return cb(e);
				}
				return cb(null, 'queued in the test sink');
			});
		},
	});
	server.on('error', (e) => {
		process.stderr.write('smtp_sink: ' + e.message + '\n');
	});
	server.listen(port, '127.0.0.1', () => {
		process.stdout.write('listening ' + port + '\n');
	});
	const stop = () => server.close(() => process.exit(0));
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

main();
