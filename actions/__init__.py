"""rasa-sdk action server for 人社小助手. Flat modules only (see STYLE.md)."""
