using System.Text.Json;
using VhostDeviceCan.Can;
using VhostDeviceCan.Device;

namespace VhostDeviceCan.Control.Commands;

/// <summary><c>set-filter</c> and <c>set-rate</c>: a guest's ID filters and transmit rate, changed
/// on its event loop between two events, in the command line's syntax.</summary>
internal static class SettingCommands
{
    public static void Register(ControlCommands table)
    {
        table.Add(new ControlCommand("set-filter", "change a guest's TX or RX identifier filter (--tx-filter syntax, or none)", true, SetFilter));
        table.Add(new ControlCommand("set-rate", "change a guest's transmit rate (--tx-rate syntax RATE[/BURST], or none)", true, SetRate));
    }

    private static JsonElement SetFilter(ControlRequest request, ControlContext context)
    {
        request.AllowOnly("guest", "direction", "filter");
        string guestName = request.RequiredName("guest");
        string direction = request.RequiredString("direction");
        if (direction is not ("tx" or "rx"))
            throw new ControlException(ControlErrors.BadArgument, $"'direction' is tx or rx, not '{direction}'");
        string text = request.RequiredString("filter");
        CanIdFilter? filter = null;
        if (text != "none")
        {
            filter = CanIdFilter.Parse(text, out string? error);
            if (filter is null) throw new ControlException(ControlErrors.BadArgument, error!);
        }
        ControlGuest guest = context.FindGuest(guestName);
        return guest.OnLoop(device =>
        {
            if (direction == "tx") device.TxFilter = filter;
            else device.RxFilter = filter;
            return Settings(guest, device);
        });
    }

    private static JsonElement SetRate(ControlRequest request, ControlContext context)
    {
        request.AllowOnly("guest", "rate");
        string guestName = request.RequiredName("guest");
        string text = request.RequiredString("rate");
        TxRate? rate = null;
        if (text != "none")
        {
            rate = TxRate.Parse(text, out string? error);
            if (rate is null) throw new ControlException(ControlErrors.BadArgument, error!);
        }
        ControlGuest guest = context.FindGuest(guestName);
        return guest.OnLoop(device =>
        {
            device.TxRate = rate;
            return Settings(guest, device);
        });
    }

    private static JsonElement Settings(ControlGuest guest, CanDevice device) => ControlJson.ToElement(
        new GuestSettings(guest.Index, device.TxFilter?.ToString(), device.RxFilter?.ToString(), StatusCommand.Format(device.TxRate)),
        ControlJson.Default.GuestSettings);
}
