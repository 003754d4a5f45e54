using System.Text;
using System.Text.Json;
using VhostDeviceCan.Device.Metrics;

namespace VhostDeviceCan.Control.Commands;

/// <summary><c>metrics</c>: the Prometheus text exposition the --metrics endpoint serves, rendered
/// by the same code from the same sources, for a host that serves no HTTP (or a script that wants
/// one reading without a Prometheus server).</summary>
internal static class MetricsCommand
{
    public static void Register(ControlCommands table) =>
        table.Add(new ControlCommand("metrics", "the counters in Prometheus' text format, as the --metrics endpoint serves them", false, Run));

    private static JsonElement Run(ControlRequest request, ControlContext context)
    {
        request.AllowOnly();
        Func<byte[]> render = context.Metrics ?? throw new ControlException(ControlErrors.Unsupported, "this daemon renders no metrics");
        return ControlJson.ToElement(new MetricsResult(MetricsText.ContentType, Encoding.UTF8.GetString(render())), ControlJson.Default.MetricsResult);
    }
}
