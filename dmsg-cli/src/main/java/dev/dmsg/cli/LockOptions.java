package dev.dmsg.cli;

import java.time.Duration;
import picocli.CommandLine.Option;

/** What both lock commands ({@code dmsg lock}, {@code dmsg lock ls}) take beside the guest's options. */
abstract class LockOptions extends GuestOptions {
    @Option(names = "--group", paramLabel = "NAME", description = "the quorum group (default: the only one advertised)")
    String group;

    @Option(names = "--wait", paramLabel = "DURATION", converter = Durations.class, defaultValue = "10s",
        description = "how long to look for a member of the group (default: ${DEFAULT-VALUE})")
    Duration wait;
}
