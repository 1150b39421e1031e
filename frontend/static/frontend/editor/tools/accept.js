/** @returns {import("./tool.js").Tool} */
export function createAcceptAllTool() {
  return {
    name: "accept_all", label: "Accept all", key: "a", type: "action",
    help: "The prediction is right as it is: submit it unchanged (only before any edit)",
    run(ctx) {
      const { store } = ctx;
      if (store.hasEdits) {
        store.say("You have edited this crop: submit it with Ctrl+Enter, or undo your edits to accept the prediction.", "warning");
        return;
      }
      store.command("accept-all");
    },
  };
}
