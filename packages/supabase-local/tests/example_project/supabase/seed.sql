insert into public.notes (body, published) values ('hello', true), ('draft', false);
