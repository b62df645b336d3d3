package dev.dmsg.link;

import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;

import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.wire.AuthBody;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.FrameLog;
import dev.dmsg.wire.LnkAuth;
import dev.dmsg.wire.Message;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TLS links only: until the peer's LNK_AUTH has arrived only PAD and AUTH are accepted
 * (docs/SECURITY.md §4). Event loop only.
 */
final class AuthGate {
    private static final Logger log = LoggerFactory.getLogger(Iocom.class);

    /** The peer's LNK_AUTH has not arrived yet. */
    boolean pending;

    /**
     * A message received while {@link #pending}: PAD is ignored, AUTH is checked against the
     * identity the TLS handshake established, anything else is refused. Returns why the link must
     * close, or {@code null} ({@code m} consumed; the gate is open after a good AUTH).
     */
    String admit(String link, Message m, PeerIdentity peer) {
        int base = m.baseCmd();
        boolean oneWay = (m.cmd() & (CREATE | DELETE | ABORT | REPLY)) == 0;
        if (base == Dmsg.LNK_PAD && oneWay) {
            return null;
        }
        if (base != Dmsg.LNK_AUTH || !oneWay || m.circuit() != 0) {
            return "traffic before AUTH: " + FrameLog.line(FrameLog.RECEIVED, m);
        }
        LnkAuth auth = m.ext(LnkAuth.class);
        String refusal = auth == null ? "LNK_AUTH without its body" : Auth.refusal(auth, peer);
        if (refusal != null) {
            return "LNK_AUTH refused: " + refusal;
        }
        pending = false;
        AuthBody b = AuthBody.parse(auth);
        // DEBUG: a node says who the peer is in its "link up" line, once the link is up (issue 18)
        log.debug("link {}: authenticated {}; it grants us {}", link, peer, Role.ofCode(b.role()).word());
        return null;
    }
}
