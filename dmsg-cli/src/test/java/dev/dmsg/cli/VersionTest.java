package dev.dmsg.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@code dmsg --version}: the version and commit the build put into version.properties. */
class VersionTest extends CliCapture {
    @Test
    void printsVersionAndCommit() {
        assertThat(run("--version")).isZero();
        // the test runs from a git checkout, so the commit is known: 10 hex digits, perhaps -dirty
        assertThat(out().trim()).matches("dmsg \\d+\\.\\d+\\.\\d+(-SNAPSHOT)? \\(commit [0-9a-f]{10}(-dirty)?, [-0-9T:+Z]+\\) Java .+");
    }
}
