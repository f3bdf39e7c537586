/**
 * Optional OpenTelemetry tracing (`RAGOMICS_TRACING=console`, or a span exporter passed in code):
 * Temporal's OpenTelemetry plugin adds client, workflow and activity interceptors, so one trace
 * follows a tree from its start through every node activity; workflow spans leave the sandbox
 * through a sink. Off by default: tracing costs a span per workflow task and activity.
 */
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';

/** The worker plugin exporting spans to `exporter` (console when omitted). */
export function tracingPlugin(exporter: SpanExporter = new ConsoleSpanExporter(), serviceName = 'ragomics-worker'): OpenTelemetryPlugin {
  const resource = new Resource({ 'service.name': serviceName });
  const spanProcessor = new SimpleSpanProcessor(exporter);
  // Activity spans come from the global tracer provider (workflow spans from the plugin's sink):
  // register one exporting to the same place. Only the first registration in a process wins.
  const provider = new BasicTracerProvider({ resource });
  provider.addSpanProcessor(spanProcessor);
  provider.register();
  return new OpenTelemetryPlugin({ resource, spanProcessor });
}
