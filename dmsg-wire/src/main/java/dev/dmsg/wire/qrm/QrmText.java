package dev.dmsg.wire.qrm;

import java.util.List;
import java.util.function.Function;

/**
 * One-line descriptions of the QRM aux layouts for logs and {@code dmsg frame decode}. Bounded: a
 * key shows at most {@value #KEY_CHARS} characters and a list at most {@value #ITEMS} items, so
 * a 64 KiB batch still makes one readable line. Values show as their length only.
 */
final class QrmText {
    private QrmText() {}

    static final int KEY_CHARS = 48;
    static final int ITEMS = 8;

    static String batch(Batch b) {
        return "compares=" + list(b.compares(), QrmText::compare) + " success=" + list(b.success(), QrmText::op)
            + " failure=" + list(b.failure(), QrmText::op);
    }

    static String results(Results rs) {
        return "succeeded=" + (rs.succeeded() ? 1 : 0) + " results=" + list(rs.results(), QrmText::result);
    }

    static String events(List<WatchEvent> events) {
        return "events=" + list(events, QrmText::event);
    }

    private static String compare(Compare c) {
        String op = switch (c.result()) {
            case EQUAL -> "=";
            case NOT_EQUAL -> "!=";
            case LESS -> "<";
            case GREATER -> ">";
        };
        String operand = c.target() != Compare.Target.VALUE ? Long.toUnsignedString(c.number())
            : c.value() == null ? "absent" : "(" + bytes(c.value().length()) + ")";
        return c.target() + "(" + key(c.key()) + ") " + op + " " + operand;
    }

    private static String op(Op o) {
        StringBuilder sb = new StringBuilder().append(o.type()).append(' ');
        if (o.prefix()) {
            sb.append("prefix=");
        }
        sb.append(key(o.key()));
        if (o.type() == Op.Type.PUT) {
            sb.append(" (").append(bytes(o.value().length())).append(')');
        }
        if (o.limit() != 0) {
            sb.append(" limit=").append(o.limit());
        }
        return sb.toString();
    }

    private static String result(OpResult r) {
        return switch (r.type()) {
            case PUT -> "PUT revision=" + Long.toUnsignedString(r.revision());
            case DELETE -> "DELETE deleted=" + Long.toUnsignedString(r.deleted());
            case GET -> "GET " + list(r.kvs(), QrmText::kv) + (r.more() ? " more" : "");
        };
    }

    private static String kv(KeyValue kv) {
        return key(kv.key()) + " (" + bytes(kv.value().length()) + ") mod_revision=" + Long.toUnsignedString(kv.modRevision());
    }

    private static String event(WatchEvent e) {
        String s = e.kind() + " " + key(e.kv().key()) + " revision=" + Long.toUnsignedString(e.revision());
        return e.kind() == WatchEvent.Kind.PUT ? s + " (" + bytes(e.kv().value().length()) + ")" : s;
    }

    /** The key as {@link Blob#toString()} shows it, cut to {@value #KEY_CHARS} characters; "" if empty. */
    static String key(Blob k) {
        if (k.length() == 0) {
            return "\"\"";
        }
        String s = k.toString();
        return s.length() <= KEY_CHARS ? s : s.substring(0, KEY_CHARS) + "...";
    }

    private static String bytes(int n) {
        return n == 1 ? "1 byte" : n + " bytes";
    }

    private static <T> String list(List<T> items, Function<T, String> show) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < items.size() && i < ITEMS; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(show.apply(items.get(i)));
        }
        if (items.size() > ITEMS) {
            sb.append(", ... +").append(items.size() - ITEMS).append(" more");
        }
        return sb.append(']').toString();
    }
}
