package dev.dmsg.mesh;

import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;

/**
 * Our loop-freedom data in the reserved fields of LNK_SPAN and LNK_CONN (docs/MESH.md, "Wire
 * layout of the extension"). A C peer copies {@code lnk_span.reserved02} when it relays and
 * otherwise ignores both.
 *
 * <pre>
 * lnk_span.reserved02 (0x68, u64 LE): byte 0 ext = 0xD5 | byte 1 flags | u16 seqno | u32 origin
 * lnk_conn.reserved02 (0x84, u64 LE): byte 0 ext = 0xD5 | byte 1 capabilities
 * </pre>
 */
public record SpanExt(int flags, int seqno, int origin) {
    public static final int MARK = 0xD5;
    /** flags bit 0: this LNK_SPAN is a seqno request (a mid-stream REPLY on a received span). */
    public static final int SEQREQ = 1;
    /** LNK_CONN capability bit 0: understands span updates and seqno requests. */
    public static final int CAP_SEQNO = 1;

    public SpanExt {
        if (origin == 0) {
            throw new IllegalArgumentException("origin id must be non-zero");
        }
        seqno &= 0xFFFF;
        flags &= 0xFF;
    }

    /** The extension carried by {@code span}, or {@code null} for a span without one (C). */
    public static SpanExt of(LnkSpan span) {
        long r = span.reserved02();
        if ((r & 0xFF) != MARK || (int) (r >>> 32) == 0) {
            return null;
        }
        return new SpanExt((int) (r >>> 8) & 0xFF, (int) (r >>> 16) & 0xFFFF, (int) (r >>> 32));
    }

    public long encode() {
        return MARK | (long) flags << 8 | (long) seqno << 16 | ((long) origin & 0xFFFFFFFFL) << 32;
    }

    /** {@code span} carrying this extension in its reserved02. */
    public LnkSpan applyTo(LnkSpan s) {
        return new LnkSpan(s.pfsClid(), s.pfsFsid(), s.pfsType(), s.peerType(), s.protoVersion(), s.status(),
            encode(), s.dist(), s.rnss(), s.mediaBytes(), s.mediaBlksize(), s.clLabel(), s.fsLabel());
    }

    public SpanExt withSeqno(int seq) {
        return new SpanExt(flags, seq, origin);
    }

    public boolean isRequest() {
        return (flags & SEQREQ) != 0;
    }

    /** RFC 8966 §3.2.1: {@code a} is newer than {@code b}, modulo 2^16. */
    public static boolean newer(int a, int b) {
        int d = (a - b) & 0xFFFF;
        return d != 0 && d < 0x8000;
    }

    /** LNK_CONN's reserved02 value that marks an extension-aware sender. */
    public static long connMarker() {
        return MARK | (long) CAP_SEQNO << 8;
    }

    /** Whether the LNK_CONN a peer sent says it understands span updates and seqno requests. */
    public static boolean understoodBy(LnkConn peerConn) {
        long r = peerConn == null ? 0 : peerConn.reserved02();
        return (r & 0xFF) == MARK && ((r >>> 8) & CAP_SEQNO) != 0;
    }

    /** {@code conn} with our marker in reserved02. */
    public static LnkConn mark(LnkConn c) {
        return new LnkConn(c.mediaid(), c.pfsClid(), c.pfsFsid(), c.peerMask(), c.peerType(), c.pfsType(),
            c.protoVersion(), c.status(), c.rnss(), connMarker(), c.pfsMask(), c.clLabel(), c.fsLabel());
    }
}
