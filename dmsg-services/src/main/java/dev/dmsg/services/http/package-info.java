/**
 * The node's small read-only HTTP listener ({@link dev.dmsg.services.http.HttpListener}): the
 * bounded Netty plumbing that the metrics ({@code dev.dmsg.services.metrics}) and the status page
 * ({@code dev.dmsg.services.page}) both serve on, and what it refused
 * ({@link dev.dmsg.services.http.ListenerStats}).
 */
package dev.dmsg.services.http;
