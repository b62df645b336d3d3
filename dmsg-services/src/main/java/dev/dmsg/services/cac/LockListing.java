package dev.dmsg.services.cac;

import com.fasterxml.jackson.databind.JsonNode;

/** The text of a lock listing (docs/CAC.md §8), for {@code dmsg lock ls} and the shell's {@code cac}. */
public final class LockListing {
    private LockListing() {}

    /** One line per lock under a header; {@code doc} is the LIST answer. */
    public static String render(JsonNode doc) {
        StringBuilder out = new StringBuilder();
        out.append(String.format("%-8s %-32s %-7s %-20s %-10s %-10s %s%n", "ID", "KEY", "DOMAIN", "OWNER", "HELD", "WANTED",
            "TOKEN"));
        for (JsonNode l : doc.path("locks")) {
            out.append(String.format("%-8d %-32s %-7s %-20s %-10s %-10s %d%s%n", l.path("id").asLong(),
                l.path("key").asText(), l.path("domain").asText(), l.path("owner").asText(), l.path("held").asText(),
                l.path("wanted").isNull() ? "-" : l.path("wanted").asText(), l.path("token").asLong(),
                (l.path("downgrade_to").isNull() ? "" : " (asked: " + l.path("downgrade_to").asText() + ")")
                    + (l.path("lost").asBoolean() ? " (holder lost)" : "")));
        }
        if (doc.path("truncated").asBoolean()) {
            out.append("(more: narrow PREFIX)\n");
        }
        return out.toString();
    }
}
