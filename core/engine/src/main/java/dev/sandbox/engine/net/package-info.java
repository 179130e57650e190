/**
 * Host-side network configuration of a sandbox's veth links over rtnetlink.
 *
 * <p>Public: {@link dev.sandbox.engine.net.LinkConfigurator} (the only entry point),
 * {@link dev.sandbox.engine.net.VethLink} and {@link dev.sandbox.engine.net.NetworkException}. None of them
 * loads JNR-FFI: only {@code LinkConfigurator.open()} does, through {@code JnrRtnetlink}, the one class that
 * names JNR types (binding libc costs 100–150 ms, so runs without links never pay it).
 *
 * <p>Inside: {@code Rtnetlink} and {@code NetlinkWriter} build and parse messages as plain bytes;
 * {@code DatagramRouteSocket} does the request/ack exchange; {@code VethConfigurator} orders the steps, rolls
 * back and words the errors, against the {@code RouteKernel}/{@code RouteSocket} interfaces so that tests can
 * run it on a recording fake without root. This package depends on nothing else in the engine.
 */
package dev.sandbox.engine.net;
