package dev.dmsg.wire;

/**
 * The one-line frame log format:
 *
 * <pre>
 * &gt;&gt; LNK_SPAN|CREATE cmd=80001207 msgid=00007fb2f00024b0 circ=0 aux=0
 * &lt;&lt; LNK_ERROR|CREATE|DELETE|REPLY cmd=e00fff01 msgid=00007fb2f00024b0 circ=0 aux=0 error=NOSUPP(0x20)
 * </pre>
 *
 * {@code >>} is sent, {@code <<} received. Received frames also show their salt. {@code error=}
 * appears only when non-zero. The extended fields come from {@link #fields(Message)}.
 */
public final class FrameLog {
    private FrameLog() {}

    public static final String SENT = ">>";
    public static final String RECEIVED = "<<";

    public static String line(String direction, Message m) {
        StringBuilder sb = new StringBuilder(96);
        if (!direction.isEmpty()) {
            sb.append(direction).append(' ');
        }
        sb.append(Command.nameOf(m.cmd())).append(Command.flagsOf(m.cmd()));
        sb.append(String.format(" cmd=%08x msgid=%016x circ=%x", m.cmd(), m.msgid(), m.circuit()));
        if (m.salt() != 0 || RECEIVED.equals(direction)) {
            sb.append(String.format(" salt=%08x", m.salt()));
        }
        sb.append(" aux=").append(m.auxBytes());
        if (m.error() != 0) {
            sb.append(" error=").append(ErrorCode.nameOf(m.error()));
        }
        return sb.toString();
    }

    /**
     * The decoded extended fields and, for text-carrying commands (DBG_SHELL and any aux that is
     * printable text), the aux as a quoted string; a QRM batch, results or events decoded
     * ({@link QrmHeader#describeAux}); empty when there is nothing to show.
     */
    public static String fields(Message m) {
        StringBuilder sb = new StringBuilder();
        if (m.ext() != null) {
            sb.append(Command.nameOf(m.cmd())).append(' ').append(m.ext().describe());
        }
        if (m.auxBytes() > 0) {
            if (sb.length() > 0) sb.append('\n');
            String text = m.auxString();
            String qrm = QrmHeader.describeAux(m);
            if (qrm != null) {
                sb.append(qrm);
            } else if (isPrintable(text)) {
                sb.append("aux: \"").append(escape(text)).append('"');
            } else {
                sb.append("aux: ").append(m.auxBytes()).append(" bytes, aux_crc=")
                    .append(String.format("%08x", m.auxCrc()));
            }
        }
        return sb.toString();
    }

    private static boolean isPrintable(String s) {
        if (s.isEmpty()) return false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') return false;
            if (c == 0xFFFD) return false;
        }
        return true;
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r").replace("\"", "\\\"");
    }
}
