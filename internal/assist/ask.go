package assist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// Tool is a read-only function the model may call while answering a question
// (get_signal(id), list_signals(entity, since, until), entity_profile(entity),
// ...). Call must not change any state: the model decides when it runs.
type Tool struct {
	// Name is what the model calls, [A-Za-z0-9_-]{1,64}.
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments object.
	Parameters map[string]any
	// Call runs the tool with the arguments, real values restored. Its result is
	// marshalled to JSON and pseudonymized before the model sees it; an error is
	// reported to the model as text.
	Call func(ctx context.Context, args json.RawMessage) (any, error)
}

var toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ToolCall records one tool call of an Ask, with real values.
type ToolCall struct {
	Round int
	Name  string
	Args  json.RawMessage // restored; nil when they were not valid JSON
	Err   string          // why the call was refused or failed; empty on success
}

// Answer is the result of Ask.
type Answer struct {
	Text   string
	Calls  []ToolCall
	Rounds int // model requests made
}

// Ask answers a question about the incident. The model may call the given tools
// for up to Config.MaxToolRounds rounds and Config.MaxToolCalls calls; a call
// to an undeclared tool, or with arguments that are not a JSON object, is
// answered with an error message and not executed.
func (a *Assistant) Ask(ctx context.Context, inc *correlate.Incident, signals []detect.Signal, question string, tools []Tool) (Answer, error) {
	var ans Answer
	byName := make(map[string]*Tool, len(tools))
	var params []openai.ChatCompletionToolUnionParam
	var names []string
	for i := range tools {
		t := &tools[i]
		switch {
		case !toolNameRE.MatchString(t.Name):
			return ans, fmt.Errorf("tool %d: name %q is not [A-Za-z0-9_-]{1,64}", i, t.Name)
		case byName[t.Name] != nil:
			return ans, fmt.Errorf("tool %d: name %q declared twice", i, t.Name)
		case t.Call == nil:
			return ans, fmt.Errorf("tool %q: no Call function", t.Name)
		}
		byName[t.Name] = t
		names = append(names, t.Name)
		schema := t.Parameters
		if schema == nil {
			schema = map[string]any{"type": "object", "properties": map[string]any{}}
		}
		params = append(params, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name:        t.Name,
			Description: openai.String(t.Description),
			Parameters:  shared.FunctionParameters(schema),
		}))
	}
	if a.cfg.MaxToolRounds == 0 {
		params, names = nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.TotalTimeout)
	defer cancel()
	p := a.Pseudonymizer(inc, signals)
	data, err := json.Marshal(buildView(p, inc, signals, a.cfg.MaxSignals))
	if err != nil {
		return ans, fmt.Errorf("encoding incident %s for the model: %w", inc.ID, err)
	}
	sys, err := render("ask.tmpl", struct {
		Tools  []string
		Rounds int
	}{names, a.cfg.MaxToolRounds})
	if err != nil {
		return ans, err
	}
	msgs := []openai.ChatCompletionMessageParamUnion{
		openai.SystemMessage(sys),
		openai.UserMessage("Incident:\n" + string(data) + "\n\nQuestion:\n" + p.Text(question)),
	}
	calls := 0
	for round := 0; ; round++ {
		offered := params
		if round >= a.cfg.MaxToolRounds {
			offered = nil // the last request asks for an answer
		}
		ans.Rounds++
		msg, err := a.complete(ctx, msgs, offered)
		if err != nil {
			return ans, fmt.Errorf("question on incident %s, round %d: %w", inc.ID, round, err)
		}
		if len(msg.ToolCalls) == 0 {
			ans.Text, err = answerText(p, msg, inc.ID)
			return ans, err
		}
		if offered == nil {
			return ans, fmt.Errorf("question on incident %s: %w (%d rounds)", inc.ID, ErrToolRounds, round)
		}
		msgs = append(msgs, echo(msg))
		for _, tc := range msg.ToolCalls {
			rec, reply := a.runTool(ctx, p, byName, tc, calls >= a.cfg.MaxToolCalls)
			rec.Round = round
			if rec.Err == "" || rec.Args != nil {
				calls++
			}
			ans.Calls = append(ans.Calls, rec)
			msgs = append(msgs, openai.ToolMessage(reply, tc.ID))
		}
	}
}

// echo turns the model's tool-calling message back into a request message. Its
// content came from the model, so it holds tokens, not real values.
func echo(msg *openai.ChatCompletionMessage) openai.ChatCompletionMessageParamUnion {
	var asst openai.ChatCompletionAssistantMessageParam
	if msg.Content != "" {
		asst.Content.OfString = openai.String(msg.Content)
	}
	for _, tc := range msg.ToolCalls {
		if tc.Type == "custom" {
			asst.ToolCalls = append(asst.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
				OfCustom: &openai.ChatCompletionMessageCustomToolCallParam{
					ID:     tc.ID,
					Custom: openai.ChatCompletionMessageCustomToolCallCustomParam{Name: tc.Custom.Name, Input: tc.Custom.Input},
				},
			})
			continue
		}
		asst.ToolCalls = append(asst.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
			OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID: tc.ID,
				Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{
					Name: tc.Function.Name, Arguments: tc.Function.Arguments,
				},
			},
		})
	}
	return openai.ChatCompletionMessageParamUnion{OfAssistant: &asst}
}

// runTool checks and runs one tool call and returns its record and the
// (pseudonymized) message for the model.
func (a *Assistant) runTool(ctx context.Context, p *Pseudonymizer, byName map[string]*Tool, tc openai.ChatCompletionMessageToolCallUnion, overBudget bool) (ToolCall, string) {
	name := tc.Function.Name
	if tc.Type == "custom" {
		name = tc.Custom.Name
	}
	rec := ToolCall{Name: name}
	refuse := func(why string) (ToolCall, string) {
		rec.Err = why
		a.log.InfoContext(ctx, "tool call refused", "tool", truncate(name, 64), "reason", why)
		return rec, "error: " + p.Text(why)
	}
	t := byName[name]
	switch {
	case tc.Type == "custom":
		return refuse("custom tool calls are not supported; call one of the declared functions")
	case t == nil:
		return refuse(fmt.Sprintf("unknown tool %q; only the declared tools can be called", truncate(p.Restore(name), 64)))
	case overBudget:
		return refuse(fmt.Sprintf("tool call budget of %d calls is spent; answer with what you have", a.cfg.MaxToolCalls))
	}
	argText := tc.Function.Arguments
	if argText == "" {
		argText = "{}"
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(argText), &obj); err != nil || obj == nil {
		return refuse("arguments are not a JSON object: " + jsonErr(err))
	}
	args, err := p.RestoreJSON([]byte(argText))
	if err != nil {
		return refuse("arguments are not valid JSON: " + jsonErr(err))
	}
	rec.Args = args
	a.log.DebugContext(ctx, "tool call", "tool", name)
	res, err := t.Call(ctx, args)
	if err != nil {
		rec.Err = err.Error()
		return rec, "error: " + truncate(p.Text(err.Error()), a.cfg.MaxToolResultBytes)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		rec.Err = fmt.Sprintf("encoding the result: %v", err)
		return rec, "error: the tool's result could not be encoded"
	}
	if len(raw) > 16*a.cfg.MaxToolResultBytes {
		rec.Err = fmt.Sprintf("result of %d bytes over the limit of %d", len(raw), 16*a.cfg.MaxToolResultBytes)
		return rec, "error: the result is too large; narrow the query"
	}
	out, err := p.JSON(raw)
	if err != nil {
		rec.Err = err.Error()
		return rec, "error: the tool's result could not be read"
	}
	return rec, truncate(string(out), a.cfg.MaxToolResultBytes)
}

func jsonErr(err error) string {
	if err == nil {
		return "null"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	}
	return "not an object"
}

// truncate cuts s to at most n bytes on a UTF-8 boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = " …(truncated)"
	cut := max(n-len(mark), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
